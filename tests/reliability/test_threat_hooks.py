"""Threat model, class 8: the hooks after gitrelstate is gone, broken or replaced.

The installed shims outlive the installation: the package is uninstalled while its
interpreter stays, the virtualenv is deleted, another gitrelstate without the
``hook`` command sits behind the same interpreter, ``.relstate/`` is removed. In each
case git must go on after ONE notice per hook; only a verdict of gitrelstate's own
check (exit 1) stops a commit or a push. Real git, real ``git commit`` and ``git push``
through the installed shims, real virtualenvs: "package removed, interpreter present"
is a venv whose ``pyvenv.cfg`` stops seeing the system site (where the editable
install of this checkout lives), so nothing shared is uninstalled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitrelstate.guard.executables import CLI_BOOTSTRAP
from gitrelstate.hooks import shims
from tests.helpers.cli import git

INACTIVE = "hook inactive"


def _clean_path(tmp_path: Path) -> str:
    """A PATH with git and the shell tools but no git-relstate anywhere on it."""
    kept = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if os.path.isabs(d) and not os.path.exists(os.path.join(d, "git-relstate"))
    ]
    found = shutil.which("git", path=os.pathsep.join(kept))
    if found is None:  # git only lives beside a git-relstate: give it a folder of its own
        own = tmp_path / "git-bin"
        own.mkdir(exist_ok=True)
        (own / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
        kept.insert(0, str(own))
    return os.pathsep.join(kept)


def _env(path: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = path
    for name in ("RELSTATE_SKIP_HOOKS", "RELSTATE_IN_HOOK", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(extra)
    return env


def _run(cwd: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _venv(path: Path, *, system_site: bool = True) -> Path:
    """A virtualenv whose python sees this checkout's gitrelstate (through the system
    site) until :func:`_cut_off` hides it."""
    flags = ["--without-pip"] + (["--system-site-packages"] if system_site else [])
    subprocess.run([sys.executable, "-m", "venv", *flags, str(path)], check=True)
    return path / "bin" / "python"


def _cut_off(venv_python: Path) -> None:
    """The package is gone; the interpreter stays (as after ``pip uninstall``)."""
    cfg = venv_python.parent.parent / "pyvenv.cfg"
    cfg.write_text(
        cfg.read_text().replace(
            "include-system-site-packages = true", "include-system-site-packages = false"
        )
    )
    probe = subprocess.run(
        [str(venv_python), "-c", "import gitrelstate"], cwd="/", capture_output=True, check=False
    )
    assert probe.returncode != 0, "the venv still imports gitrelstate"


def _site_packages(venv_python: Path) -> Path:
    out = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _fake_package(venv_python: Path, cli_source: str) -> None:
    """Another gitrelstate behind this interpreter (older, other, broken)."""
    package = _site_packages(venv_python) / "gitrelstate"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text(cli_source)


def _hooked(tmp_path: Path, venv_python: Path, path: str) -> Path:
    """A repository set up by the venv's gitrelstate (hooks call the venv's python), with
    one commit made while it still worked."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = _env(path)
    git(repo, "init", "-q")
    done = _run(repo, [str(venv_python), "-m", "gitrelstate", "init"], env)
    assert done.returncode == 0, done.stderr
    assert str(venv_python) in (repo / ".git" / "hooks" / "pre-commit").read_text()
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    first = _run(repo, ["git", "commit", "-qm", "first"], env)
    assert first.returncode == 0, first.stderr
    return repo


def _commit(
    repo: Path, env: dict[str, str], name: str = "b.txt"
) -> subprocess.CompletedProcess[str]:
    (repo / name).write_text(name)
    git(repo, "add", "-A")
    return _run(repo, ["git", "commit", "-qm", f"add {name}"], env)


def _commits(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD").strip())


def _notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if INACTIVE in line]


@pytest.fixture
def clean_path(tmp_path: Path) -> str:
    return _clean_path(tmp_path)


@pytest.fixture
def venv_python(tmp_path: Path) -> Path:
    return _venv(tmp_path / "venv")


def test_commit_goes_on_with_one_notice_when_the_package_is_gone(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    _cut_off(venv_python)
    before = _commits(repo)
    result = _commit(repo, _env(clean_path))
    assert result.returncode == 0, result.stderr
    assert _commits(repo) == before + 1
    notices = _notices(result.stderr)
    assert [n.split(":", 1)[1].split(" hook")[0].strip() for n in notices] == [
        "pre-commit",
        "post-commit",
    ]
    assert all(f"cannot import gitrelstate with {venv_python}" in n for n in notices)
    assert "Traceback" not in result.stderr and "ModuleNotFoundError" not in result.stderr


def test_push_goes_on_with_one_notice_when_the_package_is_gone(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    _cut_off(venv_python)
    result = _run(repo, ["git", "push", "-q", "origin", "HEAD:main"], _env(clean_path))
    assert result.returncode == 0, result.stderr
    assert len(_notices(result.stderr)) == 1 and "pre-push hook inactive" in result.stderr
    assert git(bare, "rev-parse", "main").strip() == git(repo, "rev-parse", "HEAD").strip()


def test_commit_goes_on_when_the_virtualenv_is_deleted(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    shutil.rmtree(venv_python.parent.parent)
    result = _commit(repo, _env(clean_path))
    assert result.returncode == 0, result.stderr
    assert len(_notices(result.stderr)) == 2


def test_no_relstate_folder_means_no_python_and_no_notice(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    git(repo, "rm", "-rq", ".relstate")
    _cut_off(venv_python)
    result = _commit(repo, _env(clean_path))
    assert result.returncode == 0, result.stderr
    assert "gitrelstate" not in result.stderr


def test_a_gitrelstate_without_the_hook_command_does_not_block(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    _cut_off(venv_python)
    _fake_package(
        venv_python,
        "import sys\n\ndef main():\n"
        "    print(\"Error: No such command 'hook'.\", file=sys.stderr)\n    sys.exit(2)\n",
    )
    result = _commit(repo, _env(clean_path))
    assert result.returncode == 0, result.stderr
    assert len(_notices(result.stderr)) == 2 and "status 2" in result.stderr


def test_a_verdict_still_blocks(tmp_path: Path, venv_python: Path, clean_path: str) -> None:
    """The control: with gitrelstate working, its check still stops a bad commit."""
    repo = _hooked(tmp_path, venv_python, clean_path)
    (repo / "x.relstate.yaml").write_text("relstate: 1\nkind: data\npath: x\nhash: nope\n")
    git(repo, "add", "-A")
    result = _run(repo, ["git", "commit", "-qm", "bad pointer"], _env(clean_path))
    assert result.returncode != 0
    assert "block this commit" in result.stderr and INACTIVE not in result.stderr


def test_a_committed_package_never_stands_in_for_gitrelstate(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    marker = tmp_path / "PWNED"
    code = f"open({str(marker)!r}, 'a').write('ran')\nimport sys\nsys.exit(1)\n"
    (repo / "gitrelstate").mkdir()
    for name in ("__init__.py", "cli.py", "__main__.py"):
        (repo / "gitrelstate" / name).write_text(code)
    (repo / "sitecustomize.py").write_text(code)
    env = _env(clean_path, PYTHONPATH=".")
    working = _commit(repo, env, "c.txt")
    assert working.returncode == 0, working.stderr
    _cut_off(venv_python)
    gone = _commit(repo, env, "d.txt")
    assert gone.returncode == 0, gone.stderr
    assert not marker.exists()


# -- the full set -------------------------------------------------------------------------


def _script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.mark.slow
def test_a_broken_git_relstate_on_path_does_not_block(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    shutil.rmtree(venv_python.parent.parent)
    bin_dir = tmp_path / "broken-bin"
    _script(bin_dir, "git-relstate", "echo 'ModuleNotFoundError: gitrelstate' >&2; exit 1")
    result = _commit(repo, _env(f"{bin_dir}{os.pathsep}{clean_path}"))
    assert result.returncode == 0, result.stderr
    assert len(_notices(result.stderr)) == 2


@pytest.mark.slow
def test_a_working_git_relstate_on_path_takes_over_and_its_verdict_blocks(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    shutil.rmtree(venv_python.parent.parent)
    bin_dir = tmp_path / "good-bin"
    quoted = CLI_BOOTSTRAP.replace("'", "'\\''")
    _script(bin_dir, "git-relstate", f"exec '{sys.executable}' -I -c '{quoted}' \"$@\"")
    (repo / "x.relstate.yaml").write_text("relstate: 1\nkind: data\npath: x\nhash: nope\n")
    git(repo, "add", "-A")
    result = _run(repo, ["git", "commit", "-qm", "bad"], _env(f"{bin_dir}{os.pathsep}{clean_path}"))
    assert result.returncode != 0 and "block this commit" in result.stderr
    assert INACTIVE not in result.stderr


@pytest.mark.slow
def test_a_git_relstate_in_the_work_tree_is_never_run(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    marker = tmp_path / "PWNED"
    _script(repo, "git-relstate", f"echo ran > '{marker}'; exit 1")
    _script(repo / "bin", "git-relstate", f"echo ran > '{marker}'; exit 1")
    shutil.rmtree(venv_python.parent.parent)
    env = _env(os.pathsep.join(["", ".", "bin", clean_path]))
    result = _commit(repo, env)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "source",
    [
        "raise RuntimeError('half uninstalled')\n",
        "import sys\n\ndef main():\n    raise SystemExit(3)\n",
        "import sys\n\ndef main():\n    sys.exit(127)\n",
    ],
    ids=["import-error", "crash", "odd-status"],
)
def test_anything_but_a_verdict_lets_git_go_on(
    tmp_path: Path, venv_python: Path, clean_path: str, source: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    _cut_off(venv_python)
    _fake_package(venv_python, source)
    result = _commit(repo, _env(clean_path))
    assert result.returncode == 0, result.stderr
    assert len(_notices(result.stderr)) == 2


@pytest.mark.slow
def test_a_failing_chained_hook_still_blocks_with_gitrelstate_gone(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    """The hook that was there before keeps its veto: its exit 1 is a verdict."""
    repo = _hooked(tmp_path, venv_python, clean_path)
    hooks = repo / ".git" / "hooks"
    _script(hooks, "pre-commit.relstate-chained", "echo 'lint failed' >&2; exit 1")
    _cut_off(venv_python)
    result = _commit(repo, _env(clean_path))
    assert result.returncode != 0 and "lint failed" in result.stderr


@pytest.mark.slow
def test_post_checkout_goes_on_with_the_package_gone(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    _cut_off(venv_python)
    result = _run(repo, ["git", "checkout", "-q", "-b", "other"], _env(clean_path))
    assert result.returncode == 0, result.stderr
    assert len(_notices(result.stderr)) == 1 and "post-checkout" in result.stderr


@pytest.mark.slow
def test_install_upgrades_a_version_1_shim(
    tmp_path: Path, venv_python: Path, clean_path: str
) -> None:
    repo = _hooked(tmp_path, venv_python, clean_path)
    old = (repo / ".git" / "hooks" / "pre-commit").read_text()
    (repo / ".git" / "hooks" / "pre-commit").write_text(
        old.replace(f" v{shims.VERSION}\n", " v1\n")
    )
    done = _run(repo, [str(venv_python), "-m", "gitrelstate", "install"], _env(clean_path))
    assert "pre-commit: upgraded from v1" in done.stdout
    assert (repo / ".git" / "hooks" / "pre-commit").read_text() == old
