"""Secrets never leak: run the whole workflow with secret-looking variables and remote
options set, then search every git object (all refs, notes), the cache, the remotes, the
git config and hooks, and every line any command printed, for the secret values.

The one place they may be is ``.relstate/config.local.yaml``, where the user put them on
purpose; it must be git-ignored (docs/reliability.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import git
from tests.helpers.trees import write_tree

# Secret values, unique per run so a hit cannot be a coincidence.
TAG = uuid.uuid4().hex[:10]
SECRETS = {
    "API_TOKEN": f"tok-{TAG}-first",
    "AWS_SECRET_ACCESS_KEY": f"aws-{TAG}-secret",
    "DB_PASSWORD": f"pw-{TAG}-db",
    "MY_API_KEY": f"key-{TAG}-api",
    "GITHUB_TOKEN": f"ghp_{TAG}abcdefghijklmnopqrstuvwxyz",
    "DATABASE_URL": f"postgres://admin:url-{TAG}-pass@db.example.invalid/prod",
}
OPTION_SECRET = f"opt-{TAG}-secret"
OPTION_KEY = f"AKIA{TAG.upper()}XYZ"
URL_PASSWORD = f"urlpw-{TAG}"
NEEDLES = [
    *(v for k, v in SECRETS.items() if k != "DATABASE_URL"),
    f"url-{TAG}-pass",
    OPTION_SECRET,
    OPTION_KEY,
    URL_PASSWORD,
]


class Session:
    """Runs commands with the secrets in the environment; keeps everything they print."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.output: list[str] = []

    def __call__(self, cwd: Path, *args: str, expect: int | None = 0) -> str:
        proc = subprocess.run(
            args, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        # What the command printed (not its arguments, where the test itself put secrets).
        self.output.append(proc.stdout + proc.stderr)
        if expect is not None:
            assert proc.returncode == expect, f"{args}: {proc.returncode}\n{proc.stderr}"
        return proc.stdout + proc.stderr

    def rs(self, cwd: Path, *args: str, expect: int | None = 0) -> str:
        return self(cwd, sys.executable, "-m", "gitrelstate", *args, expect=expect)


@pytest.fixture
def session() -> Iterator[Session]:
    yield Session({**os.environ, **SECRETS})


def _git_objects(repo: Path) -> bytes:
    """Every object in the repository (all refs, notes, dangling ones too), uncompressed."""
    listing = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo,
        capture_output=True,
        check=True,
    )
    return listing.stdout


def _files(root: Path, skip: set[Path]) -> Iterator[tuple[Path, bytes]]:
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if path not in skip and not path.is_symlink():
                yield path, path.read_bytes()


def test_no_secret_reaches_git_the_cache_the_remote_or_any_output(
    tmp_path: Path, session: Session
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    data_remote = tmp_path / "data-remote"
    git_remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(git_remote))
    session(repo, "git", "init", "-q")
    session(repo, "git", "remote", "add", "origin", str(git_remote))
    session.rs(repo, "init")  # with the git hooks: they run on every commit and push

    # Remotes: secrets refused for the committed config, accepted for the local one.
    out = session.rs(repo, "remote", "add", "origin", str(data_remote), "-o",
                     f"secret={OPTION_SECRET}", expect=1)  # fmt: skip
    assert "--local" in out
    session.rs(repo, "remote", "add", "origin", str(data_remote))
    session.rs(repo, "remote", "add", "origin", str(data_remote), "--local", "--force",
               "-o", f"secret={OPTION_SECRET}", "-o", f"key={OPTION_KEY}")  # fmt: skip
    url = f"s3://{OPTION_KEY}:{URL_PASSWORD}@bucket/x"
    assert "embedded credentials" in session.rs(repo, "remote", "add", "s3", url, expect=1)
    closed = "endpoint_url=http://127.0.0.1:9"
    session.rs(repo, "remote", "add", "s3", url, "--local", "-o", closed,
               "-o", f"secret={OPTION_SECRET}")  # fmt: skip
    session.rs(repo, "remote", "add", "mem", "memory://secrets-test", "--local",
               "-o", f"token={OPTION_SECRET}",
               "-o", f"client_kwargs.password={OPTION_SECRET}")  # fmt: skip
    session.rs(repo, "remote", "list")
    session.rs(repo, "remote", "default", "origin")

    # Data, a run that captures secret-looking variables, a release, a second run.
    (repo / "train.py").write_text("open('model.bin', 'w').write('weights')\n")
    (repo / "params.yaml").write_text("lr: 0.1\n")
    session(repo, "git", "add", "-A")
    session(repo, "git", "commit", "-qm", "code")
    write_tree(repo / "data", {"a.csv": "x,y\n1,2\n", "b.csv": "x,y\n3,4\n"})
    session.rs(repo, "track", "data")
    stage = ["-d", "data", "-p", "params.yaml", "-o", "model.bin"]
    variables = [f"-e{name}" for name in SECRETS]
    session.rs(repo, "run", "-n", "train", *stage, *variables, "--", sys.executable, "train.py")
    session(repo, "git", "add", "-A")
    session(repo, "git", "commit", "-qm", "train")  # pre-commit and post-commit hooks
    session.rs(repo, "release", "r1", "--model", "model.bin", "--tag", "-m", "first")
    session(repo, "git", "add", "-A")
    session(repo, "git", "commit", "-qm", "release r1")
    session.env["API_TOKEN"] = f"tok-{TAG}-second"
    NEEDLES.append(session.env["API_TOKEN"])
    session.rs(repo, "run", "train")
    session(repo, "git", "add", "-A")
    session(repo, "git", "commit", "-qm", "retrain")

    # Everything that shows state, in every format.
    assert "API_TOKEN" in session.rs(repo, "diff", "r1", "--layer", "environment")
    session.rs(repo, "diff", "r1", "--json")
    session.rs(repo, "diff", "r1", "--md")
    session.rs(repo, "diff", "HEAD~2", "HEAD", "--json")
    session.rs(repo, "status", "--json")
    session.rs(repo, "list", "--json")
    session.rs(repo, "show", "train", "--json")
    session.rs(repo, "show", "r1", "--json")
    session.rs(repo, "env", "show", "--json")
    session.rs(repo, "env", "check", expect=None)
    session.rs(repo, "trace", "model.bin", "--json")
    session(repo, "git", "log", "-p", "--all")
    session(repo, "git", "show", "HEAD")

    # Moving data: push (and the pre-push hook), and errors from remotes holding secrets.
    session.rs(repo, "push")
    session.rs(repo, "push", "-r", "mem", expect=None)
    session.rs(repo, "push", "-r", "s3", expect=1)  # nothing listens on port 9
    session.rs(repo, "verify", "-r", "origin")
    session(repo, "git", "push", "-q", "origin", "main", "--tags")
    clone = tmp_path / "clone"
    session(tmp_path, "git", "clone", "-q", str(git_remote), str(clone))
    session.rs(clone, "pull")
    assert OPTION_SECRET not in session.rs(clone, "remote", "list")  # none came with it
    (clone / ".relstate" / "config.local.yaml").write_text(
        (repo / ".relstate" / "config.local.yaml").read_text()
    )
    session.rs(clone, "remote", "list")
    session.rs(clone, "push", "-r", "mem", expect=None)
    session.rs(repo, "gc", "--dry-run")

    # The credentials file is where the user put them, and Git never sees it.
    local = repo / ".relstate" / "config.local.yaml"
    assert OPTION_SECRET in local.read_text()
    assert git(repo, "check-ignore", ".relstate/config.local.yaml").strip()
    assert ".relstate/config.local.yaml" not in git(repo, "ls-files")

    # The search.
    haystacks: dict[str, bytes] = {
        "output of every command": "\n".join(session.output).encode(),
        "git objects (repo)": _git_objects(repo),
        "git objects (remote)": _git_objects(git_remote),
        "git objects (clone)": _git_objects(clone),
    }
    skip = {local, clone / ".relstate" / "config.local.yaml"}
    scanned = 0
    for root in (repo, clone, git_remote, data_remote):
        for path, content in _files(root, skip):
            haystacks[str(path.relative_to(tmp_path))] = content
            scanned += 1
    leaks = [
        f"{needle!r} in {where}"
        for where, content in haystacks.items()
        for needle in NEEDLES
        if needle.encode() in content
    ]
    total = sum(len(v) for v in haystacks.values())
    print(f"\nsecret scan: {len(NEEDLES)} secrets, {scanned} files, {total} bytes, "
          f"{len(leaks)} leak(s)")  # fmt: skip
    assert not leaks, "\n".join(leaks)
    # The redacted variables are there, as digests: a change is still visible.
    record = (repo / ".relstate" / "runs" / "train.yaml").read_text()
    assert "API_TOKEN" in record and "blake3-keyed:" in record
    assert "env_vars:" in record  # 'run train' kept the variables to capture
    # The hooks ran (post-commit notes), with the secrets in their environment.
    assert "refs/notes/relstate" in git(repo, "for-each-ref", "refs/notes/")
    assert scanned > 100 and len(session.output) > 40
