"""``git relstate init``: set up ``.relstate/`` in a Git repository."""

from __future__ import annotations

from pathlib import Path

from gitrelstate import fsutil, ui
from gitrelstate.diff import textconv
from gitrelstate.repo import LOCAL_CONFIG, STATE_DIR, Repo
from gitrelstate.state import config as config_model
from gitrelstate.state import yamlio

STATE_GITIGNORE = f"""\
# Written by gitrelstate: per-machine settings and credentials never get committed.
/{LOCAL_CONFIG}
"""


def init(cwd: Path, *, no_hooks: bool = False) -> int:
    with Repo.discover(cwd) as repo:
        return _init(repo, no_hooks=no_hooks)


def _init(repo: Repo, *, no_hooks: bool) -> int:
    created = not repo.initialised
    repo.state_dir.mkdir(exist_ok=True)
    if created:
        doc = config_model.empty_document()
        fsutil.write_text_atomic(repo.config_path, yamlio.dumps(doc))
    else:
        # Validate what is there so a broken config is reported now, not later.
        repo.read_config_doc()
    gitignore = repo.state_dir / ".gitignore"
    if not gitignore.exists():
        fsutil.write_text_atomic(gitignore, STATE_GITIGNORE)
    repo.private_dir.mkdir(parents=True, exist_ok=True)
    # git diff / git log -p show state files normalised (a textconv driver).
    textconv.register(repo)
    if created:
        ui.echo(f"Initialised gitrelstate in {STATE_DIR}/ (cache: {_shown(repo, repo.cache.root)})")
        ui.echo(f"hint: commit it with 'git add {STATE_DIR} .gitattributes && git commit'")
    else:
        ui.echo(f"gitrelstate is already set up in {STATE_DIR}/ (nothing to do)")
    if not no_hooks:
        from gitrelstate.hooks.installing import install_for_init

        install_for_init(repo)
    return 0


def _shown(repo: Repo, path: Path) -> str:
    try:
        return path.relative_to(repo.root).as_posix()
    except ValueError:
        return str(path)
