"""Storage faults: an S3 server killed mid-transfer, damaged objects on a remote and in the
cache, a full disk. Each must give a clear error (exit 1, ``error:`` and ``hint:``, no
traceback), keep nothing corrupt, and a retry must succeed (docs/reliability.md)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrelstate import hashing
from gitrelstate.faults import FAIL_AT
from tests.helpers.cli import Runner, git, make_repo, relstate
from tests.helpers.invariants import cache_root, check_all, check_remote_sound, remote_hexes
from tests.helpers.servers import S3Server
from tests.helpers.trees import assert_store_sound, damage_object, read_tree, write_tree
from tests.helpers.worlds import (
    COMMANDS,
    Worlds,
    cli,
)

TMP = ".relstate-tmp-"


def _clear_error(err: str) -> None:
    assert err.startswith("error: "), err
    assert "\nhint: " in err, err
    assert "Traceback" not in err and "error: unexpected " not in err, err


def _no_temp_files(repo: Path) -> None:
    cache = cache_root(repo)
    for folder in (cache / "tmp", cache / "packs"):
        left = [p.name for p in folder.glob(f"{TMP}*")] if folder.exists() else []
        assert not left, f"temp files left in {folder}: {left}"


# -- the S3 server dies mid-transfer ------------------------------------------------------


def _s3_repo(tmp_path: Path, run: Runner, s3: S3Server, files: int) -> tuple[Path, str]:
    repo = make_repo(tmp_path / "repo", run)
    # Over the pack limit (64 KiB): each object lands in the cache as a file of its own,
    # so a test can watch a download progress.
    write_tree(repo / "data", {f"{i:03d}.bin": os.urandom(100_000) for i in range(files)})
    run(repo, "track", "data")
    bucket = s3.make_bucket()
    url = f"s3://{bucket}/p"
    run(repo, "remote", "add", "origin", url, "-o", f"endpoint_url={s3.endpoint_url}")
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
    return repo, bucket


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitrelstate", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until(proc: subprocess.Popen[str], count: object, at_least: int) -> None:
    """Poll ``count()`` until it reaches ``at_least`` (the transfer is under way)."""
    assert callable(count)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if count() >= at_least:
            return
        time.sleep(0.02)
    pytest.fail("the transfer finished before the server could be stopped")


def _bucket_count(s3: S3Server, bucket: str) -> int:
    with contextlib.suppress(Exception):
        return len(s3.fs().find(f"{bucket}/p/blake3"))
    return 0


def _stop_mid_transfer(proc: subprocess.Popen[str], s3: S3Server, secret: str) -> None:
    s3.stop()  # SIGKILL: requests in flight die with it
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        s3.start()
    assert proc.returncode == 1, err
    _clear_error(err)
    assert "origin" in err and secret not in err


def _pull_interrupted_then_resumed(
    tmp_path: Path, run: Runner, s3: S3Server, repo: Path, bucket: str, files: int
) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    clone = tmp_path / f"clone-{bucket}"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (clone / ".relstate" / "config.local.yaml").write_text(
        (repo / ".relstate" / "config.local.yaml").read_text()
    )
    loose = cache_root(clone) / "blake3"
    proc = _start(clone, "pull", "-j", "2")
    _wait_until(proc, lambda: sum(1 for _ in loose.rglob("*")) if loose.exists() else 0, 20)
    _stop_mid_transfer(proc, s3, s3.secret)
    assert_store_sound(cache_root(clone))  # what arrived is whole and verified
    assert not (clone / "data").exists()  # checkout never started on half the data
    _no_temp_files(clone)
    result = relstate(clone, "pull")
    assert result.code == 0, result.err
    assert "fetched" in result.out
    assert read_tree(clone / "data") == read_tree(repo / "data")
    assert len(read_tree(clone / "data")) == files
    check_all(clone)


@pytest.mark.slow
def test_s3_killed_mid_push_and_mid_pull_then_both_resume(
    tmp_path: Path, run: Runner, s3_server: S3Server
) -> None:
    repo, bucket = _s3_repo(tmp_path, run, s3_server, files=400)
    proc = _start(repo, "push", "-j", "2")
    _wait_until(proc, lambda: _bucket_count(s3_server, bucket), 20)
    _stop_mid_transfer(proc, s3_server, s3_server.secret)
    sent_before = _bucket_count(s3_server, bucket)
    assert 0 < sent_before < 401
    result = relstate(repo, "push")
    assert result.code == 0, result.err
    # Resumed: what had arrived is not sent again.
    assert f"{sent_before} already there" in result.out
    assert "all present and intact" in run(repo, "verify", "-r", "origin").out
    _pull_interrupted_then_resumed(tmp_path, run, s3_server, repo, bucket, files=400)


# -- damaged objects ------------------------------------------------------------------------


def _damage_remote(
    where: str, tmp_path: Path, s3: S3Server | None, bucket: str, hex_: str, how: str
) -> None:
    key = f"blake3/{hex_[:2]}/{hex_[2:]}"
    if where == "folder":
        path = tmp_path / "store" / key
        good = path.read_bytes()
        os.chmod(path, 0o644)
        path.write_bytes(good[: len(good) // 2] if how == "truncated" else b"X" + good[1:])
        return
    assert s3 is not None
    fs = s3.fs()
    good = fs.cat(f"{bucket}/p/{key}")
    fs.pipe_file(
        f"{bucket}/p/{key}", good[: len(good) // 2] if how == "truncated" else b"X" + good[1:]
    )


@pytest.mark.parametrize(
    ("where", "how"),
    [
        ("folder", "truncated"),
        ("s3", "altered"),
        pytest.param("folder", "altered", marks=pytest.mark.slow),
        pytest.param("s3", "truncated", marks=pytest.mark.slow),
    ],
)
def test_damaged_remote_object_is_refused_then_repaired(
    tmp_path: Path, run: Runner, request: pytest.FixtureRequest, where: str, how: str
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    small, large = b"small object\n" * 10, os.urandom(2 * 1024 * 1024 + 3)
    write_tree(repo / "data", {"small.txt": small, "sub/large.bin": large})
    run(repo, "track", "data")
    s3: S3Server | None = None
    bucket = ""
    if where == "folder":
        run(repo, "remote", "add", "origin", str(tmp_path / "store"))
    else:
        s3 = request.getfixturevalue("s3_server")
        assert s3 is not None
        bucket = s3.make_bucket()
        url = f"s3://{bucket}/p"
        run(repo, "remote", "add", "origin", url, "-o", f"endpoint_url={s3.endpoint_url}")
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
    run(repo, "push")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    for content in (small, large):
        clone = tmp_path / f"clone-{len(content)}"  # a fresh clone, whose cache lacks it
        git(tmp_path, "clone", "-q", str(repo), str(clone))
        if (repo / ".relstate" / "config.local.yaml").exists():
            (clone / ".relstate" / "config.local.yaml").write_text(
                (repo / ".relstate" / "config.local.yaml").read_text()
            )
        hex_ = hashing.hash_bytes(content)
        _damage_remote(where, tmp_path, s3, bucket, hex_, how)
        result = relstate(clone, "pull")
        assert result.code == 1, result.err
        _clear_error(result.err)
        assert "corrupt" in result.err and hex_[:16] in result.err
        assert "verify -r origin" in result.err  # how to repair it
        check_all(clone, cache_complete=False)
        assert hex_ not in set(cache_hexes_of(clone))
        assert not (clone / "data").exists()
        _no_temp_files(clone)
        # Repair: verify removes the damaged copy, push from the good clone puts it back.
        result = relstate(repo, "verify", "-r", "origin")
        assert result.code == 1 and "removed from the remote" in result.err, result.err
        assert "pushed 1 object(s)" in run(repo, "push").out
        assert "all present and intact" in run(repo, "verify", "-r", "origin").out
    result = relstate(clone, "pull")
    assert result.code == 0, result.err
    assert read_tree(clone / "data") == read_tree(repo / "data")
    if where == "folder":
        check_remote_sound(tmp_path / "store")


def cache_hexes_of(repo: Path) -> list[str]:
    from tests.helpers.invariants import cache_hexes

    return sorted(cache_hexes(repo))


@pytest.mark.parametrize("many", [0, 150], ids=["loose-uploads", "remote-packs"])
def test_damaged_cache_object_is_never_used_or_spread(
    tmp_path: Path, run: Runner, repo: Path, many: int
) -> None:
    packed, loose, big = b"packed file\n" * 20, os.urandom(200_000), os.urandom(1_500_000)
    # With many small objects to send, push sends them in packs (remotepacks.py).
    write_tree(repo / "data", {f"many/{i}.txt": f"small {i}\n" for i in range(many)})
    write_tree(repo / "data", {"p.txt": packed, "l.bin": loose, "b.bin": big})
    run(repo, "track", "data")
    run(repo, "remote", "add", "origin", str(tmp_path / "good"))
    run(repo, "push")
    run(repo, "remote", "add", "backup", str(tmp_path / "backup"))
    original = read_tree(repo / "data")
    for content in (packed, loose, big):
        shutil.rmtree(tmp_path / "backup", ignore_errors=True)
        damage_object(repo, content, b"Z" * len(content))
        hex_ = hashing.hash_bytes(content)
        # Never uploaded: the backup must not receive a corrupt copy.
        result = relstate(repo, "push", "-r", "backup")
        assert result.code == 1, result.err
        _clear_error(result.err)
        assert "corrupt" in result.err and "not uploaded" in result.err
        check_remote_sound(tmp_path / "backup")
        assert hex_ not in remote_hexes(tmp_path / "backup")
        # Never checked out: the work tree keeps no corrupt file, and the cache drops it.
        (repo / "data" / next(k for k, v in original.items() if v == content)).unlink()
        result = relstate(repo, "checkout")
        assert result.code == 1, result.err
        _clear_error(result.err)
        assert "corrupt" in result.err and "removed" in result.err
        assert_store_sound(cache_root(repo))
        for rel, data in read_tree(repo / "data").items():
            assert data == original[rel], f"corrupt {rel} in the work tree"
        # The retry: fetch the good copy, check out, push the backup.
        run(repo, "fetch")
        run(repo, "checkout")
        assert read_tree(repo / "data") == original
        run(repo, "push", "-r", "backup")
    check_remote_sound(tmp_path / "backup")
    assert "all present and intact" in run(repo, "verify", "-r", "backup").out
    assert (tmp_path / "backup" / "packs").is_dir() == bool(many)


# -- a full disk ------------------------------------------------------------------------------

# Write steps of each command where a full disk is simulated (ENOSPC from that step on).
DISK_FULL_AT = {
    "track": ["packs.add", "packs.publish", "objects.add", "objects.install", "pointers.save"],
    "checkout": ["materialize.replace", "fsutil.replace"],
    "run": ["packs.add", "objects.add", "runner.record"],
    "release": ["releases.write"],
    "push": ["local.put", "fsutil.replace", "local.put_named"],
    "fetch": ["transfer.receive", "remotepacks.install", "packs.publish", "transfer.listing"],
    "pull": ["packs.publish", "materialize.replace"],
    "gc": ["packs.add", "packs.publish"],
}


def test_disk_full_at_each_kind_of_write_step(tmp_path: Path, worlds: Worlds) -> None:
    """ENOSPC injected at a write step: a clear error, nothing corrupt or half-written kept,
    and the same command succeeds (with the same result) once there is room again."""
    tried = 0
    for command in COMMANDS:
        prepared = worlds[command]
        for step in DISK_FULL_AT[command]:
            assert step in prepared.steps, f"{command} has no write step {step}"
            world = tmp_path / f"{command}-{step}"
            where = prepared.copy(world)
            code, err = cli(where, prepared.scenario.args, {FAIL_AT: f"{step}:1:ENOSPC"})
            assert code == 1, f"{command} at {step}: exit {code}: {err}"
            _clear_error(err)
            assert "no space left on the device" in err, f"{command} at {step}: {err}"
            remote = world / "remote"
            check_all(
                where,
                remote=remote if remote.exists() else None,
                cache_complete=prepared.scenario.cache_complete,
            )
            _no_temp_files(where)
            code, err = cli(where, prepared.scenario.args)
            assert code == 0, f"{command} retried after {step}: {err}"
            assert prepared.scenario.result(world) == prepared.expected, f"{command} {step}"
            tried += 1
    print(f"\ndisk-full injections: {tried}")


def test_full_stat_cache_disk_only_costs_speed(tmp_path: Path, worlds: Worlds) -> None:
    prepared = worlds["track"]
    where = prepared.copy(tmp_path / "w")
    code, err = cli(where, prepared.scenario.args, {FAIL_AT: "statcache.flush:1:ENOSPC"})
    assert code == 0, err
    assert prepared.scenario.result(tmp_path / "w") == prepared.expected


@contextlib.contextmanager
def _small_filesystem(mountpoint: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs (needs root and a kernel that lets us mount); else skip."""
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the injected-ENOSPC test covers this")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_track_and_checkout_on_a_really_full_disk(tmp_path: Path, run: Runner) -> None:
    with _small_filesystem(tmp_path / "small", "24m") as fs:
        repo = make_repo(fs / "repo", run)
        write_tree(repo / "data", {f"{i:03d}.txt": os.urandom(3000) for i in range(300)})
        (repo / "data" / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024))
        (fs / "filler").write_bytes(b"\0" * 5 * 1024 * 1024)
        # data (~10 MiB) + filler (5) + its copy in the cache (~10) > 24 MiB.
        result = relstate(repo, "track", "data")
        assert result.code == 1, result.err
        _clear_error(result.err)
        assert "no space left" in result.err
        assert not (repo / "data.relstate.yaml").exists()
        check_all(repo)
        _no_temp_files(repo)
        (fs / "filler").unlink()  # room again
        result = relstate(repo, "track", "data")
        assert result.code == 0, result.err
        assert relstate(repo, "status", "--exit-code").code == 0
        check_all(repo)
        # Checkout into a disk with no room for the big file: refused cleanly, then done.
        original = read_tree(repo / "data")
        (repo / "data" / "big.bin").unlink()
        (fs / "filler").write_bytes(b"\0" * 8 * 1024 * 1024)
        result = relstate(repo, "checkout")
        assert result.code == 1, result.err
        _clear_error(result.err)
        assert not list((repo / "data").glob(f"{TMP}*"))
        for rel, content in read_tree(repo / "data").items():
            assert content == original[rel], rel
        (fs / "filler").unlink()
        run(repo, "checkout")
        assert read_tree(repo / "data") == original
        check_all(repo)
        print(json.dumps({"tmpfs": "24m", "disk_full": "track + checkout refused, retried"}))
