"""Remotes on real object stores on loopback: SeaweedFS (S3) and the GCS emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitrelstate import hashing
from tests.helpers.cli import Runner, git, make_repo, relstate
from tests.helpers.servers import GCSServer, S3Server
from tests.helpers.trees import read_tree, write_tree


def _s3_remote(repo: Path, run: Runner, s3: S3Server, client: str = "auto") -> str:
    bucket = s3.make_bucket()
    url = f"s3://{bucket}/team/data"
    run(repo, "remote", "add", "origin", url, "-o", f"endpoint_url={s3.endpoint_url}")
    # Credentials only in the git-ignored local config.
    run(
        repo,
        "remote",
        "add",
        "origin",
        url,
        "--local",
        "-o",
        f"key={s3.key}",
        "-o",
        f"secret={s3.secret}",
    )
    if client != "auto":
        run(
            repo,
            "remote",
            "add",
            "origin",
            url,
            "-o",
            f"endpoint_url={s3.endpoint_url}",
            "--client",
            client,
            "--force",
        )
    return bucket


def _clone_with_credentials(repo: Path, clone: Path) -> Path:
    """A fresh clone, given this machine's git-ignored credentials by hand (as a user would)."""
    git(clone.parent, "clone", "-q", str(repo), str(clone))
    (clone / ".relstate" / "config.local.yaml").write_text(
        (repo / ".relstate" / "config.local.yaml").read_text()
    )
    return clone


def _objects_on_s3(s3: S3Server, root: str) -> int:
    """Objects on an S3 remote: loose ones plus those its pack indexes list."""
    from gitrelstate.store.packs import ENTRY, MAGIC

    fs = s3.fs()
    fs.invalidate_cache()
    loose = len(fs.find(f"{root}/blake3"))
    indexes = [k for k in fs.find(f"{root}/packs") if k.endswith(".idx")]
    return loose + sum((len(fs.cat_file(k)) - len(MAGIC)) // ENTRY.size for k in indexes)


def _no_packs(repo: Path) -> None:
    """``packs: false`` for origin: one PUT per object, as before remote packs."""
    from gitrelstate.state import yamlio

    path = repo / ".relstate" / "config.yaml"
    doc = yamlio.read(path)
    doc["remotes"]["origin"]["packs"] = False
    path.write_text(yamlio.dumps(doc))


def _dataset(repo: Path) -> None:
    write_tree(repo / "data", {f"shard-{i:03d}.bin": os.urandom(2048 + i) for i in range(150)})
    (repo / "model.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))


@pytest.mark.parametrize("client", ["auto", "fsspec"])
def test_s3_round_trip_to_a_fresh_clone(
    tmp_path: Path,
    run: Runner,
    s3_server: S3Server,
    client: str,
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    _dataset(repo)
    run(repo, "track", "data", "model.bin")
    bucket = _s3_remote(repo, run, s3_server, client)
    from gitrelstate.remotes.remote import resolve as resolve_remote
    from gitrelstate.repo import Repo

    backend = resolve_remote(Repo.discover(repo), None).backend
    assert backend.kind.startswith("obstore" if client == "auto" else "fsspec (S3FileSystem")
    assert "pushed 152 object(s)" in run(repo, "push").out
    assert "everything is already on" in run(repo, "push").out
    assert _objects_on_s3(s3_server, f"{bucket}/team/data") == 152
    # The 150 small files travel in packs; the listing and model.bin stay loose.
    assert len(s3_server.fs().find(f"{bucket}/team/data/blake3")) == 2
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    # The clone has no credentials yet: they never left the first machine.
    assert s3_server.secret not in (clone / ".relstate" / "config.yaml").read_text()
    (clone / ".relstate" / "config.local.yaml").write_text(
        (repo / ".relstate" / "config.local.yaml").read_text()
    )
    result = relstate(clone, "pull")
    assert result.code == 0, result.err
    assert read_tree(clone / "data") == read_tree(repo / "data")
    assert (clone / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()
    assert "all present and intact" in run(clone, "verify", "-r", "origin").out


def test_corrupt_object_on_s3_is_refused(
    tmp_path: Path,
    run: Runner,
    s3_server: S3Server,
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    (repo / "f.bin").write_bytes(b"genuine content")
    run(repo, "track", "f.bin")
    bucket = _s3_remote(repo, run, s3_server)
    run(repo, "push")
    hex_ = hashing.hash_bytes(b"genuine content")
    s3_server.fs().pipe_file(f"{bucket}/team/data/blake3/{hex_[:2]}/{hex_[2:]}", b"evil content!!!")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    clone = _clone_with_credentials(repo, tmp_path / "clone")
    result = run(clone, "pull", expect=1)
    assert "corrupt" in result.err and hex_[:16] in result.err and "origin" in result.err
    assert not (clone / "f.bin").exists()
    assert "problem" in run(clone, "verify", "-r", "origin", expect=1).err


def test_server_killed_mid_push_then_push_completes(
    tmp_path: Path,
    run: Runner,
    s3_server: S3Server,
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    write_tree(repo / "data", {f"{i}.bin": os.urandom(4096) for i in range(3000)})
    run(repo, "track", "data")
    bucket = _s3_remote(repo, run, s3_server)
    _no_packs(repo)  # 3,000 requests: long enough to be cut (packs: test_remote_packs.py)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitrelstate", "push", "-j", "8"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    with s3_server.stopped():
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            pytest.skip("the push finished before the server was stopped")
        assert proc.returncode == 1
        assert err.startswith("error: ") and "Traceback" not in err
        assert "origin" in err and s3_server.secret not in err
    result = run(repo, "push")
    assert "pushed" in result.out
    assert _objects_on_s3(s3_server, f"{bucket}/team/data") == 3001
    assert "all present and intact" in run(repo, "verify", "-r", "origin").out


def test_stopped_server_gives_a_clear_error(
    tmp_path: Path,
    run: Runner,
    s3_server: S3Server,
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    (repo / "f.bin").write_bytes(b"x")
    run(repo, "track", "f.bin")
    _s3_remote(repo, run, s3_server)
    with s3_server.stopped():
        result = run(repo, "push", expect=1)
    assert result.err.startswith("error: ") and "hint: " in result.err
    assert s3_server.secret not in result.err


def test_credentials_never_reach_git(tmp_path: Path, run: Runner, s3_server: S3Server) -> None:
    repo = make_repo(tmp_path / "repo", run)
    (repo / "f.bin").write_bytes(b"x")
    run(repo, "track", "f.bin")
    _s3_remote(repo, run, s3_server)
    run(repo, "push")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    history = git(repo, "log", "-p", "--all")
    tracked = git(repo, "ls-files")
    assert s3_server.secret not in history and s3_server.key not in history
    assert "config.local.yaml" not in tracked


def test_gcs_round_trip(tmp_path: Path, run: Runner, gcs_server: GCSServer) -> None:
    repo = make_repo(tmp_path / "repo", run)
    _dataset(repo)
    run(repo, "track", "data", "model.bin")
    bucket = gcs_server.make_bucket()
    run(
        repo,
        "remote",
        "add",
        "origin",
        f"gs://{bucket}/proj",
        "-o",
        "token=anon",
        "-o",
        f"endpoint_url={gcs_server.endpoint_url}",
        "--local",
    )
    assert "pushed 152 object(s)" in run(repo, "push").out
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    clone = _clone_with_credentials(repo, tmp_path / "clone")
    result = relstate(clone, "pull")
    assert result.code == 0, result.err
    assert read_tree(clone / "data") == read_tree(repo / "data")


@pytest.mark.slow
def test_large_multipart_push_exits_cleanly(
    tmp_path: Path, run: Runner, s3_server: S3Server
) -> None:
    """Two 1 GiB files: obstore uploads them in parts; the process must exit 0 (it once
    died with SIGABRT while shutting down after such a push)."""
    repo = make_repo(tmp_path / "repo", run)
    for name in ("a.bin", "b.bin"):
        with open(repo / name, "wb") as f:
            for _ in range(64):
                f.write(os.urandom(16 * 1024 * 1024))
    run(repo, "track", "a.bin", "b.bin")
    _s3_remote(repo, run, s3_server)
    result = relstate(repo, "push")
    assert result.code == 0, result.err
    assert "pushed 2 object(s)" in result.out


def test_corrupt_large_object_streamed_from_s3_is_refused(
    tmp_path: Path, run: Runner, s3_server: S3Server
) -> None:
    """Objects over 1 MiB stream to a temp file, hashed on the way: still verified."""
    repo = make_repo(tmp_path / "repo", run)
    content = os.urandom(2 * 1024 * 1024 + 5)
    (repo / "big.bin").write_bytes(content)
    run(repo, "track", "big.bin")
    bucket = _s3_remote(repo, run, s3_server)
    run(repo, "push")
    hex_ = hashing.hash_bytes(content)
    s3_server.fs().pipe_file(
        f"{bucket}/team/data/blake3/{hex_[:2]}/{hex_[2:]}", os.urandom(len(content))
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    clone = _clone_with_credentials(repo, tmp_path / "clone")
    result = run(clone, "pull", expect=1)
    assert "corrupt" in result.err and hex_[:16] in result.err
    assert not (clone / "big.bin").exists()
    tmp = clone / ".git" / "relstate" / "cache" / "tmp"
    assert not tmp.exists() or not list(tmp.iterdir())
