"""Git hooks, fired by real ``git commit`` / ``git push`` / ``git checkout`` in temp repos.

The installed shims run the hook with this test interpreter (the one that ran
``install``); the git remote is a bare repository, the data remote a folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from gitrelstate import hashing
from gitrelstate.environment import envnotes
from gitrelstate.hooks import secretscan, shims
from gitrelstate.repo import Repo
from gitrelstate.state import config as config_model
from tests.helpers import CHECKOUT
from tests.helpers.cli import Runner, git, make_repo, relstate
from tests.helpers.trees import cache_objects, damage_object, read_tree, write_tree

HOOKS = ("pre-commit", "post-commit", "pre-push", "post-checkout")
FAKE_TOKEN = "ghp_" + "Zq7" * 12  # shaped like a GitHub token; never printed back


def sh(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A git command whose failure is the point (hooks may stop it)."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=120,
    )


def commit(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return sh(cwd, "commit", "-q", "-m", "change", *args, env=env)


def head(cwd: Path) -> str:
    return git(cwd, "rev-parse", "HEAD").strip()


def storage_objects(storage: Path) -> set[str]:
    base = storage / "blake3"
    return (
        {p.parent.name + p.name for p in base.rglob("*") if p.is_file()} if base.exists() else set()
    )


@pytest.fixture
def hooked(tmp_path: Path, run: Runner) -> Path:
    """A repository with the hooks installed, a folder data remote, data tracked and committed."""
    repo = make_repo(tmp_path / "repo", run)
    run(repo, "install")
    run(repo, "remote", "add", "storage", str(tmp_path / "storage"), "--default")
    write_tree(repo, {"data/a.csv": "a,1\n", "data/b.csv": "b,2\n", "model.bin": b"weights" * 100})
    run(repo, "track", "data", "model.bin")
    git(repo, "add", "-A")
    done = commit(repo)
    assert done.returncode == 0, done.stderr
    return repo


def blocked(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "block this commit" in result.stderr
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in:\n{result.stderr}"
    assert "Traceback" not in result.stderr


def stage_readme(repo: Path, text: str = "readme\n") -> None:
    (repo / "README").write_text(text)
    git(repo, "add", "README")


# -- install / uninstall ---------------------------------------------------------------


def test_init_installs_the_shims_and_install_is_idempotent(tmp_path: Path, run: Runner) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    assert "Installed git hooks in .git/hooks" in run(repo, "init").out
    for name in HOOKS:
        path = repo / ".git" / "hooks" / name
        text = path.read_text()
        assert os.access(path, os.X_OK)
        assert shims.HOOK_ID in text and f"hook={name}" in text
        assert sys.executable in text
    assert "up to date" in run(repo, "install").out
    assert "already set up" in run(repo, "init").out
    bare = make_repo(tmp_path / "nohooks", run)  # init --no-hooks
    assert not (bare / ".git" / "hooks" / "pre-commit").exists()


def test_the_built_in_template_is_hooks_shim_sh() -> None:
    assert (CHECKOUT / "hooks" / "shim.sh").read_text() == shims.template()
    assert shims.HOOK_ID in shims.template()


def test_foreign_hooks_are_chained_and_restored(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "r", run)
    log = tmp_path / "foreign.log"
    hooks = repo / ".git" / "hooks"
    foreign = f'#!/bin/sh\necho "pre-commit $*" >> {log}\n'
    hooks.mkdir(exist_ok=True)  # the tests' git has no template hooks
    (hooks / "pre-commit").write_text(foreign)
    (hooks / "pre-commit").chmod(0o755)
    out = run(repo, "install").out
    assert "the hook that was there runs first (pre-commit.relstate-chained)" in out
    assert (hooks / "pre-commit.relstate-chained").read_text() == foreign
    write_tree(repo, {"data/x.csv": "1\n"})
    run(repo, "track", "data")
    git(repo, "add", "-A")
    assert commit(repo).returncode == 0
    assert log.read_text().count("pre-commit") == 1
    # Ours still blocks after the foreign hook has run.
    (repo / "data" / "x.csv").write_text("2\n")
    stage_readme(repo)
    blocked(commit(repo), "data: tracked data no longer matches")
    assert log.read_text().count("pre-commit") == 2
    # A failing foreign hook stops the commit on its own.
    (hooks / "pre-commit.relstate-chained").write_text("#!/bin/sh\necho nope >&2\nexit 3\n")
    failed = commit(repo, "--allow-empty")
    assert failed.returncode != 0 and "nope" in failed.stderr
    assert "block this commit" not in failed.stderr
    (hooks / "pre-commit.relstate-chained").write_text(foreign)

    out = run(repo, "uninstall").out
    assert "pre-commit: removed; the previous hook is back in place" in out
    assert (hooks / "pre-commit").read_text() == foreign
    assert not (hooks / "pre-commit.relstate-chained").exists()
    assert not any((hooks / name).exists() for name in HOOKS if name != "pre-commit")
    assert commit(repo).returncode == 0  # our check is gone, the foreign hook is back
    assert log.read_text().count("pre-commit") == 3
    assert "no gitrelstate hooks" in run(repo, "uninstall").out


def test_chained_pre_push_hook_gets_the_refs_too(hooked: Path, tmp_path: Path, run: Runner) -> None:
    seen = tmp_path / "seen.txt"
    hooks = hooked / ".git" / "hooks"
    (hooks / "pre-push").rename(tmp_path / "ours")
    (hooks / "pre-push").write_text(f'#!/bin/sh\necho "$1" > {seen}\ncat >> {seen}\n')
    (hooks / "pre-push").chmod(0o755)
    run(hooked, "install")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(hooked, "remote", "add", "origin", str(tmp_path / "origin.git"))
    pushed = sh(hooked, "push", "-q", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    lines = seen.read_text().splitlines()
    assert lines[0] == "origin" and lines[1].startswith(f"refs/heads/main {head(hooked)} ")
    assert storage_objects(tmp_path / "storage")  # and our hook uploaded the data


def test_older_shims_are_upgraded_newer_ones_kept(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "r", run)
    hooks = repo / ".git" / "hooks"
    run(repo, "install")
    current = (hooks / "pre-commit").read_text()
    version = f" v{shims.VERSION}\n"
    (hooks / "pre-commit").write_text(current.replace(version, " v0\n"))
    assert "pre-commit: upgraded from v0" in run(repo, "install").out
    assert (hooks / "pre-commit").read_text() == current
    (hooks / "pre-commit").write_text(current.replace(version, " v99\n"))
    result = run(repo, "install", expect=1)
    assert "newer gitrelstate (v99" in result.err and "--force" in result.err
    run(repo, "install", "--force")
    assert (hooks / "pre-commit").read_text() == current
    assert not (hooks / "pre-commit.relstate-chained").exists()


def test_core_hooks_path_outside_the_clone_needs_force(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "r", run)
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    refused = run(repo, "install", expect=1)
    assert "core.hooksPath is set to" in refused.err and "install --force" in refused.err
    init = run(repo, "init")  # init only warns
    assert "warning: git hooks not installed: core.hooksPath" in init.err
    assert not shared.exists()
    run(repo, "install", "--force")
    assert all((shared / name).is_file() for name in HOOKS)
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    write_tree(repo, {"f.bin": "1"})
    run(repo, "track", "f.bin")
    git(repo, "add", "-A")
    assert commit(repo).returncode == 0
    (repo / "f.bin").write_text("2")
    stage_readme(repo)
    blocked(commit(repo), "f.bin: tracked data no longer matches")  # git ran them from there
    run(repo, "uninstall")
    assert not any((shared / name).exists() for name in HOOKS)


def test_core_hooks_path_inside_the_git_dir_is_used(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "r", run)
    git(repo, "config", "core.hooksPath", ".git/my-hooks")
    assert "git hooks in .git/my-hooks" in run(repo, "install").out
    assert (repo / ".git" / "my-hooks" / "pre-commit").is_file()


def test_worktrees_share_the_hooks(hooked: Path, tmp_path: Path, run: Runner) -> None:
    worktree = tmp_path / "wt"
    git(hooked, "worktree", "add", "-q", str(worktree), "-b", "wt")
    stage_readme(worktree)
    # The data is in the shared cache but not in the new work tree yet.
    blocked(commit(worktree), "data: tracked data is missing", "git relstate checkout data")
    run(worktree, "checkout")
    assert commit(worktree).returncode == 0
    assert envnotes.read_note(Repo.discover(worktree), "HEAD") is not None


def test_skip_variable_and_reentry_guard(hooked: Path, tmp_path: Path) -> None:
    (hooked / "data" / "a.csv").write_text("changed\n")
    stage_readme(hooked)
    for env in ({"RELSTATE_SKIP_HOOKS": "1"}, {"RELSTATE_IN_HOOK": "1"}):
        result = commit(hooked, "--allow-empty", env=env)
        assert result.returncode == 0, result.stderr
        assert envnotes.read_note(Repo.discover(hooked), "HEAD") is None  # post-commit too


def test_unknown_hook_name_is_an_error(hooked: Path, run: Runner) -> None:
    assert "unknown hook 'pre-rebase'" in run(hooked, "hook", "pre-rebase", expect=1).err


# -- pre-commit ------------------------------------------------------------------------


def test_modified_deleted_and_missing_data_block_the_commit(hooked: Path, run: Runner) -> None:
    (hooked / "data" / "a.csv").write_text("a,changed\n")
    (hooked / "data" / "b.csv").unlink()
    (hooked / "data" / "c.csv").write_text("new\n")
    (hooked / "model.bin").unlink()
    stage_readme(hooked)
    before = head(hooked)
    blocked(
        commit(hooked),
        "data: tracked data no longer matches its pointer data.relstate.yaml "
        "(files 1 modified, 1 added, 1 deleted: data/a.csv, data/c.csv, data/b.csv)",
        "hint: run 'git relstate track data' to record the change, or "
        "'git relstate checkout data' to restore the recorded data",
        "model.bin: tracked data is missing from the work tree",
        "git commit --no-verify",
    )
    assert head(hooked) == before
    assert commit(hooked, "--no-verify").returncode == 0
    run(hooked, "checkout", "--force")
    stage_readme(hooked, "again\n")
    assert commit(hooked).returncode == 0


def test_a_clean_commit_passes_and_records_its_environment(hooked: Path, run: Runner) -> None:
    stage_readme(hooked)
    result = commit(hooked)
    assert result.returncode == 0 and result.stderr == ""
    sha = head(hooked)
    doc = envnotes.read_document(Repo.discover(hooked), "HEAD")
    assert doc is not None and doc["kind"] == "environment" and doc["commit"] == sha
    assert doc["environment"]["interpreter"]["implementation"]
    shown = run(hooked, "env", "show", "HEAD").out
    assert shown.startswith(f"# environment recorded by commit HEAD ({sha[:12]})")
    assert "packages:" in shown
    # A commit made without the hooks has no note, and says so.
    assert commit(hooked, "--allow-empty", env={"RELSTATE_SKIP_HOOKS": "1"}).returncode == 0
    missing = run(hooked, "env", "show", "HEAD", expect=1)
    assert "no environment is recorded for HEAD" in missing.err


def _pointer_text(path: str = "x.bin", hash_: str | None = None, version: int = 1) -> str:
    hash_ = hash_ or "blake3:" + hashing.hash_bytes(b"x")
    return f"relstate: {version}\nkind: data\npath: {path}\nhash: {hash_}\nsize: 1\n"


RECORD = """\
relstate: 1
kind: run
name: bad
command: [python, x.py]
wdir: .
deps:
  - {path: /etc/passwd, hash: blake3:%s, size: 1}
""" % ("0" * 64)


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        ("x.bin.relstate.yaml", _pointer_text(version=9), "written in format version 9"),
        ("x.bin.relstate.yaml", _pointer_text(hash_="md5:abc"), "'hash' must look like"),
        ("x.bin.relstate.yaml", _pointer_text(path="../x.bin"), "not a normalised path"),
        ("x.bin.relstate.yaml", "relstate: 1\nkind: data\n- [", "not valid YAML"),
        (".relstate/runs/bad.yaml", RECORD, "'deps.path' is absolute"),
        (
            ".relstate/releases/r1.yaml",
            "relstate: 1\nkind: release\nname: r1\nmodel:\n  path: ../../etc/passwd\n",
            "'model.path' is not a normalised path",
        ),
        (".relstate/releases/r2.yaml", "relstate: 1\nkind: run\n", "'kind' is 'run'"),
        (
            ".relstate/config.yaml",
            "relstate: 1\nkind: config\nhooks:\n  stale_runs: maybe\n",
            "'hooks.stale_runs' must be one of block, warn",
        ),
        (
            ".relstate/config.local.yaml",
            "relstate: 1\nkind: config\n",
            "must stay out of Git",
        ),
    ],
)
def test_invalid_staged_state_files_block(
    hooked: Path, path: str, content: str, message: str
) -> None:
    (hooked / path).parent.mkdir(parents=True, exist_ok=True)
    (hooked / path).write_text(content)
    git(hooked, "add", "-f", path)
    blocked(commit(hooked), message)
    assert commit(hooked, "--no-verify").returncode == 0


def test_the_staged_version_is_checked_not_the_work_tree(hooked: Path) -> None:
    (hooked / "x.bin.relstate.yaml").write_text(_pointer_text(hash_="md5:abc"))
    git(hooked, "add", "x.bin.relstate.yaml")
    (hooked / "x.bin.relstate.yaml").write_text(_pointer_text())  # fixed, but not staged
    blocked(commit(hooked), "'hash' must look like")
    git(hooked, "reset", "-q", "x.bin.relstate.yaml")
    stage_readme(hooked)
    (hooked / ".relstate" / "config.yaml").write_text("relstate: 7\nkind: config\n")  # unstaged
    assert commit(hooked).returncode == 0


SUMMARIZE = "import glob; open('out.txt', 'w').write(str(len(glob.glob('data/*'))))"


def test_stale_runs_block_or_warn(hooked: Path, run: Runner) -> None:
    (hooked / "script.py").write_text("print(1)\n")
    git(hooked, "add", "script.py")
    assert commit(hooked).returncode == 0
    run(hooked, "run", "-n", "count", "-d", "data", "-d", "script.py", "-o", "out.txt", "--",
        sys.executable, "-c", SUMMARIZE)  # fmt: skip
    git(hooked, "add", "-A")
    assert commit(hooked).returncode == 0
    # A Git-tracked dependency changed but not staged: the commit still matches the record.
    (hooked / "script.py").write_text("print(2)\n")
    stage_readme(hooked)
    assert commit(hooked).returncode == 0
    git(hooked, "add", "script.py")
    blocked(
        commit(hooked),
        "run 'count' (.relstate/runs/count.yaml) is stale: dependency script.py changed",
        "bring it up to date with 'git relstate repro count'",
    )
    git(hooked, "reset", "-q", "script.py")
    (hooked / "script.py").write_text("print(1)\n")
    # Data re-tracked after the run: no data problem, but the record is stale.
    (hooked / "data" / "a.csv").write_text("a,3\n")
    run(hooked, "track", "data")
    git(hooked, "add", "data.relstate.yaml")
    blocked(commit(hooked), "dependency data changed")
    # Records are parsed once per version and remembered by blob id; a damaged
    # memory is only a cache.
    index = hooked / ".git" / "relstate" / "hook-records.json"
    assert '"count"' in index.read_text()
    index.write_text("{not json")
    again = commit(hooked)
    blocked(again, "dependency data changed")
    assert "tracked data no longer matches" not in again.stderr
    config = hooked / ".relstate" / "config.yaml"
    config.write_text(config.read_text() + "hooks:\n  stale_runs: warn\n")
    git(hooked, "add", str(config))
    warned = commit(hooked)
    assert warned.returncode == 0
    assert "warning: run 'count' (.relstate/runs/count.yaml) is stale" in warned.stderr
    (hooked / "out.txt").unlink()
    stage_readme(hooked, "x\n")
    warned = commit(hooked)
    assert warned.returncode == 1  # out.txt is tracked data, missing: that still blocks
    assert "output out.txt is missing" in warned.stderr


def test_committed_releases_are_immutable(hooked: Path, run: Runner) -> None:
    run(hooked, "release", "v1", "-m", "first")
    release = hooked / ".relstate" / "releases" / "v1.yaml"
    made = release.read_text()
    # A new release whose content does not match its state_id is not valid.
    release.write_text(made.replace("message: first", "message: forged"))
    git(hooked, "add", str(release))
    blocked(commit(hooked), "content does not match its state_id")
    release.write_text(made)
    git(hooked, "add", str(release))
    assert commit(hooked).returncode == 0  # a new release is fine
    release.write_text(made + "note: rewritten\n")
    git(hooked, "add", str(release))
    blocked(
        commit(hooked),
        ".relstate/releases/v1.yaml: a committed release is modified; releases are immutable",
        "make a new release instead of changing 'v1'",
    )
    git(hooked, "restore", "--staged", "--worktree", "--source=HEAD", str(release))
    git(hooked, "rm", "-q", str(release))
    blocked(commit(hooked), "a committed release is deleted")
    assert commit(hooked, "--no-verify").returncode == 0


def test_secrets_in_state_files_block_without_being_shown(hooked: Path) -> None:
    pointer = hooked / "data.relstate.yaml"
    pointer.write_text(pointer.read_text() + f"owner_token: {FAKE_TOKEN}\n")
    config = hooked / ".relstate" / "config.yaml"
    config.write_text(
        config.read_text() + "    options:\n      aws_secret_access_key: wJalrXUtnFEMI/K7MDENG\n"
    )
    git(hooked, "add", "-A")
    result = commit(hooked)
    blocked(
        result,
        "data.relstate.yaml: 'owner_token' holds what looks like a GitHub token",
        "'remotes.storage.options.aws_secret_access_key' holds what looks like",
        "credentials belong in .relstate/config.local.yaml",
    )
    assert FAKE_TOKEN not in result.stderr + result.stdout
    assert "wJalrXUtnFEMI" not in result.stderr + result.stdout
    assert commit(hooked, "--no-verify").returncode == 0


def test_secret_scan_finds_credentials_not_ordinary_values() -> None:
    record = {
        "relstate": 1,
        "kind": "run",
        "params": {"params.yaml": {"max_tokens": 512, "sort_key": "timestamp_column"}},
        "environment": {
            "variables": {
                "GITHUB_TOKEN": {"redacted": "blake3-keyed:" + "a" * 64},
                "LANG": "C.UTF-8",
                "TOKENIZERS_PARALLELISM": "false",
            },
            "packages": {"private-lib": "git+https://github.com/x/y@" + "f" * 40},
        },
        "deps": [{"path": "data/sk-learn-notes.csv", "hash": "blake3:" + "b" * 64}],
    }
    assert secretscan.scan(record) == []
    leaky = {
        "environment": {"variables": {"API_KEY": "hunter22"}},
        "params": {"p.yaml": {"db.password": "S3cret!x", "url": "https://u:pw@host/db"}},
        "notes": ["-----BEGIN OPENSSH PRIVATE KEY-----", "id AKIAIOSFODNN7EXAMPLE"],
    }
    found = {f.key: f.what for f in secretscan.scan(leaky)}
    assert found == {
        "environment.variables.API_KEY": "a secret environment variable in clear",
        "params.p.yaml.db.password": "a credential (its key is 'password')",
        "params.p.yaml.url": "a password inside a URL",
        "notes.0": "a private key",
        "notes.1": "an AWS access key id",
    }


def test_hooks_config_keys_are_validated() -> None:
    ok = config_model.validate(
        {"relstate": 1, "kind": "config", "hooks": {"stale_runs": "warn", "post_checkout": True}},
        "c",
    )
    merged = config_model.merge(ok, {"hooks": {"post_checkout": False}})
    assert (merged.stale_runs, merged.post_checkout) == ("warn", False)
    assert config_model.merge({}, {}).stale_runs == "block"
    with pytest.raises(Exception, match="'post_checkout' must be true or false"):
        config_model.validate({"relstate": 1, "kind": "config", "hooks": {"post_checkout": 1}}, "c")


# -- pre-push and notes ----------------------------------------------------------------


def test_push_uploads_what_the_pushed_refs_need_then_a_clone_gets_everything(
    hooked: Path, tmp_path: Path, run: Runner
) -> None:
    storage = tmp_path / "storage"
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(hooked, "remote", "add", "origin", str(tmp_path / "origin.git"))
    # Data on a branch that is not pushed stays local.
    git(hooked, "checkout", "-q", "-b", "other")
    write_tree(hooked, {"other.bin": "only on the other branch"})
    run(hooked, "track", "other.bin")
    git(hooked, "add", "-A")
    assert commit(hooked).returncode == 0
    git(hooked, "checkout", "-q", "main")

    pushed = sh(hooked, "push", "-u", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    assert "gitrelstate: uploaded 4 object(s)" in pushed.stderr  # 2 files + listing + model
    want = {hashing.hash_bytes(p.read_bytes()) for p in (hooked / "data").iterdir()}
    want.add(hashing.hash_bytes((hooked / "model.bin").read_bytes()))
    assert want < storage_objects(storage)
    assert len(storage_objects(storage)) == 4
    assert hashing.hash_bytes(b"only on the other branch") not in storage_objects(storage)
    assert git(hooked, "ls-remote", "origin", envnotes.NOTES_REF).strip()

    again = sh(hooked, "push", "origin", "main")  # nothing new: nothing uploaded
    assert again.returncode == 0 and "uploaded" not in again.stderr
    other = sh(hooked, "push", "origin", "other")
    assert other.returncode == 0 and "uploaded 1 object(s)" in other.stderr
    deleted = sh(hooked, "push", "origin", ":other")
    assert deleted.returncode == 0 and "uploaded" not in deleted.stderr

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(clone))
    run(clone, "pull")
    assert read_tree(clone / "data") == read_tree(hooked / "data")
    assert (clone / "model.bin").read_bytes() == (hooked / "model.bin").read_bytes()
    cloned = Repo.discover(clone)
    # git clone fetches no notes; git relstate pull (and fetch) did.
    assert envnotes.read_note(cloned, "HEAD") is not None
    assert envnotes.read_note(cloned, "HEAD") == envnotes.read_note(Repo.discover(hooked), "HEAD")
    assert (
        "recorded when HEAD was committed"
        in run(clone, "diff", "HEAD", "HEAD", "--json", "--layer", "environment").out
    )


def test_a_failed_upload_stops_the_push(hooked: Path, tmp_path: Path, run: Runner) -> None:
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(hooked, "remote", "add", "origin", str(tmp_path / "origin.git"))
    damage_object(hooked, b"a,1\n", None)  # the cache lost an object the push needs
    result = sh(hooked, "push", "origin", "main")
    assert result.returncode != 0
    assert "error: gitrelstate could not upload the data of this push" in result.stderr
    assert "RELSTATE_SKIP_PUSH=1 git push" in result.stderr
    assert not git(hooked, "ls-remote", "origin").strip()  # the commit did not get there
    skipped = sh(hooked, "push", "origin", "main", env={"RELSTATE_SKIP_PUSH": "1"})
    assert skipped.returncode == 0, skipped.stderr
    assert git(hooked, "ls-remote", "origin", "refs/heads/main").strip()


def test_push_without_a_data_remote_warns_and_goes_through(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "r", run)
    run(repo, "install")
    write_tree(repo, {"f.bin": "1"})
    run(repo, "track", "f.bin")
    git(repo, "add", "-A")
    assert commit(repo).returncode == 0
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    result = sh(repo, "push", str(tmp_path / "origin.git"), "main")  # a URL, not a name
    assert result.returncode == 0, result.stderr
    assert "warning: no default data remote" in result.stderr
    assert git(repo, "ls-remote", str(tmp_path / "origin.git"), envnotes.NOTES_REF).strip()


def test_notes_from_two_collaborators_merge(hooked: Path, tmp_path: Path, run: Runner) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(hooked, "remote", "add", "origin", str(origin))
    assert sh(hooked, "push", "-q", "origin", "main").returncode == 0
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    run(other, "install")
    run(other, "pull")
    (other / "theirs.txt").write_text("theirs\n")
    git(other, "add", "theirs.txt")
    assert commit(other).returncode == 0
    (hooked / "ours.txt").write_text("ours\n")
    git(hooked, "add", "ours.txt")
    assert commit(hooked).returncode == 0
    assert sh(other, "push", "-q", "origin", "main").returncode == 0
    # Both clones wrote notes the other lacks: the push merges the remote's in first.
    assert sh(hooked, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main").returncode == 0
    pushed = sh(hooked, "push", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(origin), str(fresh))
    repo = Repo.discover(fresh)
    assert envnotes.fetch_notes(repo, "origin")
    # Both sides' commits have their notes ('git merge' runs no post-commit hook,
    # so the merge commit itself has none).
    for rev in ("HEAD^1", "HEAD^2", "HEAD^1^"):
        assert envnotes.read_note(repo, rev) is not None, rev


# -- post-checkout ---------------------------------------------------------------------


def test_post_checkout_is_opt_in_and_keeps_unsaved_changes(hooked: Path, run: Runner) -> None:
    git(hooked, "checkout", "-q", "-b", "v2")
    (hooked / "data" / "a.csv").write_text("a,v2\n")
    (hooked / "model.bin").write_bytes(b"v2 weights")
    run(hooked, "track", "data", "model.bin")
    git(hooked, "add", "-A")
    assert commit(hooked).returncode == 0
    sh(hooked, "checkout", "-q", "main")
    assert (hooked / "data" / "a.csv").read_text() == "a,v2\n"  # off by default
    run(hooked, "checkout")

    local = hooked / ".relstate" / "config.local.yaml"
    local.write_text("relstate: 1\nkind: config\nhooks:\n  post_checkout: true\n")
    switched = sh(hooked, "checkout", "-q", "v2")
    assert switched.returncode == 0, switched.stderr
    assert (hooked / "data" / "a.csv").read_text() == "a,v2\n"
    assert (hooked / "model.bin").read_bytes() == b"v2 weights"
    # An unsaved edit is never lost: that path stays as it is, the others follow.
    (hooked / "data" / "b.csv").write_text("b,unsaved\n")
    switched = sh(hooked, "checkout", "-q", "main")
    assert switched.returncode == 0
    assert "data: kept as it is: it has local changes" in switched.stderr
    assert (hooked / "data" / "b.csv").read_text() == "b,unsaved\n"
    assert (hooked / "data" / "a.csv").read_text() == "a,v2\n"
    assert (hooked / "model.bin").read_bytes() == b"weights" * 100


def test_post_checkout_fills_a_new_worktree_and_fetches(
    hooked: Path, tmp_path: Path, run: Runner
) -> None:
    # Committed, so that the new worktree has it (config.local.yaml is per work tree).
    config = hooked / ".relstate" / "config.yaml"
    config.write_text(config.read_text() + "hooks:\n  post_checkout: true\n")
    git(hooked, "add", str(config))
    assert commit(hooked).returncode == 0
    run(hooked, "push")
    for path in cache_objects(hooked):  # only the remote has the data now
        path.chmod(0o644)
        path.unlink()
    for pack in (hooked / ".git" / "relstate" / "cache" / "packs").glob("*"):
        pack.unlink()
    worktree = tmp_path / "wt"
    added = sh(hooked, "worktree", "add", "-q", str(worktree), "-b", "wt")
    assert added.returncode == 0, added.stderr
    assert "fetched" in added.stdout + added.stderr
    assert read_tree(worktree / "data") == read_tree(hooked / "data"), added.stdout + added.stderr
    assert (worktree / "model.bin").read_bytes() == (hooked / "model.bin").read_bytes()


def test_env_check_compares_with_the_commit_note(hooked: Path) -> None:
    # Same machine, same interpreter: the live environment is the one recorded.
    # (A subprocess, like the hook: pytest's sys.path would show this checkout's
    # egg-info instead of the installed distribution.)
    result = relstate(hooked, "env", "check", "HEAD", "--json")
    doc = json.loads(result.out)
    assert doc["against"].startswith("commit HEAD (") and doc["matches"] is True
