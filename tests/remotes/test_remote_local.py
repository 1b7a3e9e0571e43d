from __future__ import annotations

import os
from pathlib import Path

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git, relstate
from tests.helpers.trees import read_tree, write_tree


def _remote_objects(store: Path) -> list[Path]:
    return [p for p in (store / "blake3").rglob("*") if p.is_file()]


def test_remote_add_list_default_remove(repo: Path, tmp_path: Path, run: Runner) -> None:
    run(repo, "remote", "add", "a", str(tmp_path / "a"))
    out = run(
        repo,
        "remote",
        "add",
        "b",
        "s3://bucket/p",
        "-o",
        "endpoint_url=http://x",
        "-o",
        "anon=true",
    ).out
    assert "default" not in out  # 'a' was first and became the default
    doc = yamlio.read(repo / ".relstate" / "config.yaml")
    assert doc["default_remote"] == "a"
    assert doc["remotes"]["b"] == {
        "url": "s3://bucket/p",
        "options": {"endpoint_url": "http://x", "anon": True},
    }
    listing = run(repo, "remote", "list").out
    assert listing.splitlines()[0].startswith("* a")
    run(repo, "remote", "default", "b")
    assert yamlio.read(repo / ".relstate" / "config.yaml")["default_remote"] == "b"
    assert "already exists" in run(repo, "remote", "add", "a", "/x", expect=1).err
    run(repo, "remote", "remove", "b")
    assert "default_remote" not in yamlio.read(repo / ".relstate" / "config.yaml")
    assert "no remote named" in run(repo, "remote", "remove", "b", expect=1).err
    assert "invalid remote name" in run(repo, "remote", "add", "../x", "/x", expect=1).err


def test_secrets_never_reach_the_committed_config(repo: Path, run: Runner) -> None:
    for opt in (
        "key=AKIA123",
        "secret=s3cr3t",
        "token=tok",
        "password=pw",
        "client_kwargs.aws_secret_access_key=zz",
    ):
        result = run(repo, "remote", "add", "s", "s3://b/p", "-o", opt, expect=1)
        assert "--local" in result.err
    assert (
        "embedded credentials"
        in run(repo, "remote", "add", "s", "https://user:pw@host/x", expect=1).err
    )
    committed = (repo / ".relstate" / "config.yaml").read_text()
    run(repo, "remote", "add", "s", "s3://b/p", "-o", "secret=s3cr3t", "--local")
    assert (repo / ".relstate" / "config.yaml").read_text() == committed
    assert "s3cr3t" in (repo / ".relstate" / "config.local.yaml").read_text()
    assert "s3cr3t" not in run(repo, "remote", "list").out
    assert git(repo, "check-ignore", ".relstate/config.local.yaml").strip()


def test_push_clone_pull_round_trip(repo: Path, tmp_path: Path, run: Runner) -> None:
    files = {f"part-{i}.csv": os.urandom(1000) for i in range(30)}
    files["nested/deep/x.bin"] = os.urandom(3 * 1024 * 1024)
    write_tree(repo / "data", files)
    (repo / "model.bin").write_bytes(os.urandom(5000))
    run(repo, "track", "data", "model.bin")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    assert "pushed 33 object(s)" in run(repo, "push").out
    assert len(_remote_objects(store)) == 33
    assert "everything is already on" in run(repo, "push").out
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    status = run(clone, "status").out
    assert "not in the cache" in status and "pull" in status
    result = relstate(clone, "pull")  # the real executable, as a user runs it
    assert result.code == 0, result.err
    assert read_tree(clone / "data") == read_tree(repo / "data")
    assert (clone / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()
    assert run(clone, "status", "--exit-code").code == 0
    assert "cache is complete" in run(clone, "fetch").out


def test_only_missing_objects_are_pushed(repo: Path, tmp_path: Path, run: Runner) -> None:
    write_tree(repo / "data", {f"{i}.txt": str(i) for i in range(10)})
    run(repo, "track", "data")
    run(repo, "remote", "add", "origin", str(tmp_path / "store"))
    run(repo, "push")
    write_tree(repo / "data", {"new.txt": "new"})
    run(repo, "track", "data")
    assert "pushed 2 object(s)" in run(repo, "push").out  # the new file and the new listing


def test_corrupt_object_on_remote_is_refused(repo: Path, tmp_path: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"the real content")
    run(repo, "track", "f.bin")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    run(repo, "push")
    [obj] = _remote_objects(store)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"tampered content")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = run(clone, "pull", expect=1)
    assert "corrupt" in result.err and "origin" in result.err
    assert not (clone / "f.bin").exists()
    cache = clone / ".git" / "relstate" / "cache" / "blake3"
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]


def test_missing_object_on_remote_is_named(repo: Path, tmp_path: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"x")
    run(repo, "track", "f.bin")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    run(repo, "push")
    [obj] = _remote_objects(store)
    obj.unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = run(clone, "fetch", expect=1)
    assert "missing on remote" in result.err and obj.parent.name in result.err


def test_push_without_remote_and_unknown_backend_give_hints(repo: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"x")
    run(repo, "track", "f.bin")
    assert "remote add" in run(repo, "push", expect=1).err
    run(repo, "remote", "add", "w", "webdav://example.invalid/x")
    result = run(repo, "push", "-r", "w", expect=1)
    assert result.err.startswith("error: ") and "hint: pip install" in result.err


def test_relative_remote_path_resolves_from_repo_root(repo: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"x")
    run(repo, "track", "f.bin")
    run(repo, "remote", "add", "origin", "../relstore")
    (repo / "sub").mkdir()
    run(repo / "sub", "push")
    assert _remote_objects(repo.parent / "relstore")


def test_status_remote_reports_what_is_not_pushed(repo: Path, tmp_path: Path, run: Runner) -> None:
    import json

    write_tree(repo / "data", {"a.txt": "a", "b.txt": "b"})
    (repo / "m.bin").write_bytes(b"m")
    run(repo, "track", "data", "m.bin")
    run(repo, "remote", "add", "origin", str(tmp_path / "store"))
    run(repo, "push", "m.bin")
    result = run(repo, "status", "-r", "origin", "--exit-code", expect=1)
    assert "data: 3 object(s) not pushed to 'origin'" in result.out
    assert "m.bin" not in result.out.split("hint")[0].replace("data:", "")
    doc = json.loads(run(repo, "status", "-r", "origin", "--json").out)
    assert {d["path"]: d["not_pushed"] for d in doc["data"]} == {"data": 3, "m.bin": 0}
    run(repo, "push")
    assert "all on remote 'origin'" in run(repo, "status", "--remote", "origin").out


def _on_a_terminal(cwd: Path, *args: str) -> str:
    """Run the CLI with stdout/stderr on a pseudo-terminal; return what it showed."""
    import fcntl
    import pty
    import struct
    import sys
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "gitrelstate", *args])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode("utf-8", "replace")


def test_progress_bars_only_on_a_terminal(repo: Path, tmp_path: Path, run: Runner) -> None:
    write_tree(repo / "data", {f"{i}.bin": os.urandom(2000) for i in range(400)})
    run(repo, "track", "data")
    run(repo, "remote", "add", "origin", str(tmp_path / "store"))
    shown = _on_a_terminal(repo, "push")
    assert "objects" in shown and "push" in shown  # bytes bar with an object count
    assert "pushed 401 object(s)" in shown
    piped = relstate(repo, "push")
    assert piped.err == "" and "\r" not in piped.out
    run(repo, "remote", "add", "second", str(tmp_path / "store2"))
    quiet = _on_a_terminal(repo, "push", "-r", "second", "--no-progress")
    assert "objects]" not in quiet and "pushed 401" in quiet


def test_push_and_pull_only_what_a_run_needs(repo: Path, tmp_path: Path, run: Runner) -> None:
    import sys

    write_tree(repo / "inputs", {"a.csv": "1,2\n", "b.csv": "3,4\n"})
    (repo / "unrelated.bin").write_bytes(b"not part of the run")
    run(repo, "track", "inputs", "unrelated.bin")
    run(
        repo,
        "run",
        "-n",
        "stage",
        "-d",
        "inputs",
        "-o",
        "result.txt",
        "--",
        sys.executable,
        "-c",
        "open('result.txt','w').write('made')",
    )
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    # inputs: 2 files + listing; result.txt: 1 object.
    assert "pushed 4 object(s)" in run(repo, "push", "--run", "stage").out
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    run(clone, "pull", "--run", "stage")
    assert (clone / "result.txt").read_text() == "made"
    assert (clone / "inputs" / "b.csv").read_text() == "3,4\n"
    assert not (clone / "unrelated.bin").exists()
    assert "no run named" in run(repo, "push", "--run", "nope", expect=1).err
