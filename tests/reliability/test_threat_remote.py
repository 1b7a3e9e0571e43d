"""Remote reads are bounded and remote damage is repairable (docs/reliability.md, threat
model, class 6).

Whoever can write to a remote, or commit a remote URL that CI reads from, controls
what comes back: an object that never ends (a symlink to ``/dev/zero``, a FIFO, a
sparse giant, a server that streams for ever) or a pack index that lies. Every test
runs the real CLI in a subprocess under a safety net (address space 4 GiB, files
512 MiB, a timeout) and measures its peak RSS: the attacked command must end with a
clean ``error:`` (or, for ``diff``, a note) in bounded time and under 200 MB, and
nothing unverified may enter the cache. A damaged index must make its pack absent,
``verify -r`` must report it even from the clone that kept a good copy, and the next
push from a good clone must leave the remote from which a fresh clone pulls everything.

The default run takes a sample of the variants; ``pytest -m slow`` takes them all.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitrelstate import hashing
from tests.helpers.cli import Runner, git, make_repo
from tests.helpers.trees import read_tree, store_of, write_tree

PEAK_MB = 200  # the bound every attacked command must stay under
SECONDS = 30.0  # and the time it may take (the attacks used to run until killed)
ENTRY = struct.Struct(">32sQQ")
SMALL = b"hello\n"
MANY = {f"f{i:03d}.txt": f"file number {i}\n" for i in range(100)}


@dataclass
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float


# Runs the command as its own child and reports that child's exit code and peak RSS.
# A launcher is needed: a child forked from this (large) test process would count the
# parent's pages in its own peak. It also sets a safety net far above the bound under
# test (address space 4 GiB, files 512 MiB): a runaway read fails there instead of
# swapping the machine or filling its disk.
_LAUNCHER = """
import os, resource, subprocess, sys
def limits():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    resource.setrlimit(resource.RLIMIT_FSIZE, (512 << 20, 512 << 20))
proc = subprocess.Popen(sys.argv[2:], preexec_fn=limits, stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def measured(cwd: Path, *args: str, timeout: float = 120.0) -> Measured:
    """The real CLI in a subprocess: its exit code, output, wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report"
        start = time.monotonic()
        command = [sys.executable, "-m", "gitrelstate", *args]
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(report), *command],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command
            out, err = proc.communicate()
        seconds = time.monotonic() - start
        code, peak_kib = report.read_text().split() if report.exists() else ("-9", "0")
    assert "Traceback" not in err, err
    return Measured(int(code), out, err, seconds, int(peak_kib) / 1024)  # KiB on Linux


def bounded(result: Measured, code: int = 1) -> Measured:
    """``result`` ended as ``code`` with a clean message, in bounded time and memory."""
    assert result.code == code, f"exit {result.code}\nout: {result.out}\nerr: {result.err}"
    assert result.seconds < SECONDS, f"took {result.seconds:.1f} s\n{result.err}"
    assert result.peak_mb < PEAK_MB, f"peak RSS {result.peak_mb:.0f} MB\n{result.err}"
    if code == 1:
        assert result.err.startswith("error:") or "\nerror:" in result.err, result.err
    return result


# -- the world: a clone that pushed, a folder remote, fresh clones ---------------------


@dataclass
class World:
    tmp: Path
    pusher: Path  # the clone that pushed: it keeps copies of the remote's indexes
    remote: Path  # the folder remote
    origin: Path  # the bare git repository clones come from

    def fresh_clone(self, name: str) -> Path:
        clone = self.tmp / name
        git(self.tmp, "clone", "-q", str(self.origin), str(clone))
        return clone

    def loose(self, content: bytes) -> Path:
        hex_ = hashing.hash_bytes(content)
        return self.remote / "blake3" / hex_[:2] / hex_[2:]

    @property
    def index(self) -> Path:
        [idx] = (self.remote / "packs").glob("pack-*.idx")
        return idx

    @property
    def pack(self) -> Path:
        return self.index.with_suffix(".pack")


def build_world(tmp: Path, run: Runner) -> World:
    """``small.txt`` (6 bytes, a loose object) and ``many/`` (100 small files, one remote
    pack) pushed to a folder remote; the commit on a bare origin."""
    pusher = make_repo(tmp / "pusher", run)
    remote = tmp / "remote"
    run(pusher, "remote", "add", "origin", str(remote), "--default")
    (pusher / "small.txt").write_bytes(SMALL)
    run(pusher, "track", "small.txt")
    run(pusher, "push")  # alone: loose
    write_tree(pusher / "many", MANY)
    run(pusher, "track", "many")
    run(pusher, "push")
    git(pusher, "add", "-A")
    git(pusher, "commit", "-qm", "data")
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", str(origin))
    git(pusher, "remote", "add", "origin", str(origin))
    git(pusher, "push", "-q", "origin", "HEAD:main")
    world = World(tmp, pusher, remote, origin)
    assert len(list((remote / "packs").glob("*.idx"))) == 1
    return world


@pytest.fixture
def world(tmp_path: Path, run: Runner) -> World:
    return build_world(tmp_path, run)


def replace(path: Path, make: Callable[[Path], object]) -> None:
    """Put something else where ``path`` was (the remote's files are read-only)."""
    os.chmod(path.parent, 0o755)
    path.unlink()
    make(path)


def dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def fifo(path: Path) -> None:
    os.mkfifo(path)  # nobody ever writes to it


def sparse_giant(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB of nothing: no disk, but a size


def truncated(path: Path) -> None:
    path.write_bytes(SMALL[:3])


def no_cache_object(clone: Path, content: bytes) -> bool:
    hex_ = hashing.hash_bytes(content)
    store = store_of(clone)
    try:
        return not store.exists(hex_)
    finally:
        store.close()


# -- loose objects that never end -------------------------------------------------------

# attack -> (how, what pull says, what the pushing clone's verify -r says)
OBJECT_ATTACKS = {
    "dev-zero": (dev_zero, "not a regular file", "missing: 8e4c7c1b99dbfd50"),
    "fifo": (fifo, "not a regular file", "missing: 8e4c7c1b99dbfd50"),
    "sparse-1GiB": (sparse_giant, "larger than the 6 byte(s)", "larger than the 6 byte(s)"),
    "truncated": (truncated, "corrupt", "corrupt (removed from the remote)"),
}


@pytest.mark.parametrize("attack", sorted(OBJECT_ATTACKS))
def test_loose_object_that_never_ends_is_refused(world: World, attack: str) -> None:
    make, message, verified = OBJECT_ATTACKS[attack]
    replace(world.loose(SMALL), make)
    clone = world.fresh_clone("clone")
    result = bounded(measured(clone, "pull", "small.txt"))
    assert message in result.err and "origin" in result.err
    assert not (clone / "small.txt").exists()
    assert no_cache_object(clone, SMALL)
    # The pushing clone's verify names it (a device or a pipe is no object: missing;
    # wrong content is removed); a push then puts a good copy back.
    assert verified in bounded(measured(world.pusher, "verify", "-r", "origin")).err
    if attack == "sparse-1GiB":
        return  # larger than declared: reported, not removed (the pointer may be wrong)
    assert "pushed 1 object(s)" in bounded(measured(world.pusher, "push"), code=0).out
    bounded(measured(clone, "pull", "small.txt"), code=0)
    assert (clone / "small.txt").read_bytes() == SMALL


# -- pack indexes that lie --------------------------------------------------------------


def _entries(idx: Path) -> tuple[bytes, list[list[int | bytes]]]:
    raw = idx.read_bytes()
    return raw[:8], [list(e) for e in ENTRY.iter_unpack(raw[8:])]


def _write_entries(idx: Path, head: bytes, entries: list[list[int | bytes]]) -> None:
    replace(idx, lambda p: p.write_bytes(head + b"".join(ENTRY.pack(*e) for e in entries)))


def size_2_40(idx: Path) -> None:
    head, entries = _entries(idx)
    entries[0][2] = 1 << 40
    _write_entries(idx, head, entries)


def offset_2_64(idx: Path) -> None:
    head, entries = _entries(idx)
    entries[0][1] = (1 << 64) - 1
    _write_entries(idx, head, entries)


def overlap(idx: Path) -> None:
    head, entries = _entries(idx)
    entries[1][1:] = entries[0][1:]
    _write_entries(idx, head, entries)


def unsorted(idx: Path) -> None:
    head, entries = _entries(idx)
    _write_entries(idx, head, entries[::-1])


def duplicate(idx: Path) -> None:
    head, entries = _entries(idx)
    _write_entries(idx, head, [*entries, entries[-1]])


def claims_16m_entries(idx: Path) -> None:
    def make(path: Path) -> None:
        with open(path, "wb") as f:  # sparse: 770 MB claimed, no disk used
            f.write(idx_head)
            f.truncate(8 + ENTRY.size * 16_000_000)

    idx_head = idx.read_bytes()[:8]
    replace(idx, make)


def index_dev_zero(idx: Path) -> None:
    replace(idx, dev_zero)


def pack_dev_zero(idx: Path) -> None:
    replace(idx.with_suffix(".pack"), dev_zero)


def pack_truncated(idx: Path) -> None:
    pack = idx.with_suffix(".pack")
    data = pack.read_bytes()
    replace(pack, lambda p: p.write_bytes(data[: len(data) // 2]))


INDEX_ATTACKS: dict[str, Callable[[Path], None]] = {
    "size-2^40": size_2_40,
    "offset-2^64-1": offset_2_64,
    "overlap": overlap,
    "unsorted": unsorted,
    "duplicate": duplicate,
    "16M-entries": claims_16m_entries,
    "idx-dev-zero": index_dev_zero,
    "pack-dev-zero": pack_dev_zero,
    "pack-truncated": pack_truncated,
}
FAST_INDEX_ATTACKS = {"size-2^40", "offset-2^64-1", "overlap", "16M-entries"}


def _index_params() -> list[object]:
    return [
        pytest.param(name, marks=() if name in FAST_INDEX_ATTACKS else pytest.mark.slow)
        for name in INDEX_ATTACKS
    ]


@pytest.mark.parametrize("attack", _index_params())
def test_damaged_index_is_reported_then_repaired(world: World, attack: str) -> None:
    INDEX_ATTACKS[attack](world.index)
    # A fresh clone: the pack is absent, the pull ends cleanly and stores nothing.
    clone = world.fresh_clone("clone")
    result = bounded(measured(clone, "pull", "many"))
    assert not (clone / "many").exists()
    assert all(no_cache_object(clone, c.encode()) for c in MANY.values())
    if attack != "pack-truncated":  # the index is fine there: the entries come short
        assert "damaged" in result.err
    # The clone that pushed kept a good copy of the index; verify reads it again.
    result = bounded(measured(world.pusher, "verify", "-r", "origin"))
    assert "damaged pack index" in result.err or "corrupt" in result.err
    # Its next push repairs the remote, and a fresh clone then pulls everything.
    pushed = bounded(measured(world.pusher, "push"), code=0)
    assert "pushed" in pushed.out, pushed.out
    clone2 = world.fresh_clone("clone2")
    bounded(measured(clone2, "pull"), code=0)
    assert read_tree(clone2 / "many") == read_tree(world.pusher / "many")
    assert "all present and intact" in bounded(measured(clone2, "verify", "-r", "origin"), 0).out


@pytest.mark.parametrize("attack", ["overlap", pytest.param("size-2^40", marks=pytest.mark.slow)])
def test_push_alone_sees_a_rewritten_index(world: World, attack: str) -> None:
    """The pushing clone's kept copy is good, but the remote's index was rewritten since:
    push notices (the listing's stamp changed), treats the pack as absent, uploads it."""
    INDEX_ATTACKS[attack](world.index)
    pushed = bounded(measured(world.pusher, "push"), code=0)
    assert "damaged" in pushed.err and f"pushed {len(MANY)} object(s)" in pushed.out
    clone = world.fresh_clone("clone")
    bounded(measured(clone, "pull"), code=0)
    assert read_tree(clone / "many") == read_tree(world.pusher / "many")


def test_damaged_pack_falls_back_to_loose_copies(world: World, run: Runner) -> None:
    """Objects a damaged pack should have provided come from loose copies when there
    are some (a clone pushed them with packs turned off, say)."""
    overlap(world.index)
    for content in MANY.values():
        target = world.loose(content.encode())
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode())
    clone = world.fresh_clone("clone")
    result = bounded(measured(clone, "pull", "many"), code=0)
    assert "damaged" in result.err
    assert read_tree(clone / "many") == {k: v.encode() for k, v in MANY.items()}


def test_gc_remote_removes_a_damaged_pack(world: World, run: Runner) -> None:
    damaged = world.index
    size_2_40(damaged)
    # The pusher's data grew meanwhile: its push builds a different pack, so the
    # damaged one stays (warned about) until gc removes it.
    (world.pusher / "many" / "extra.txt").write_text("one more\n")
    run(world.pusher, "track", "many")
    assert "damaged" in bounded(measured(world.pusher, "push"), code=0).err
    assert damaged.exists()
    done = bounded(measured(world.pusher, "gc", "-r", "origin", "--force"), code=0)
    assert "damaged" in done.out and not damaged.exists()
    git(world.pusher, "commit", "-qam", "more")
    git(world.pusher, "push", "-q", "origin", "HEAD:main")
    clone = world.fresh_clone("clone")
    result = bounded(measured(clone, "pull"), code=0)
    assert "damaged" not in result.err
    assert read_tree(clone / "many") == read_tree(world.pusher / "many")


# -- diff --md in CI on a pull request that names a hostile remote ----------------------


def _pr_world(tmp: Path, run: Runner, committed_url: str | None) -> tuple[Path, Path, str]:
    """A repository whose PR branch changes folder ``data``; returns (CI clone, the
    hostile folder, the new listing's hex)."""
    repo = make_repo(tmp / "repo", run)
    write_tree(repo / "data", {"a.txt": "a\n", "b.txt": "b\n"})
    run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "pr")
    write_tree(repo / "data", {"c.txt": "c\n"})
    run(repo, "track", "data")
    pointer = (repo / "data.relstate.yaml").read_text()
    hex_ = pointer.split("blake3:")[1].split()[0]
    hostile = repo / "rem" if committed_url else tmp / "hostile"
    if committed_url:  # written by hand: 'remote add' may refuse such a URL
        config = repo / ".relstate" / "config.yaml"
        config.write_text(
            config.read_text().rstrip("\n")
            + f"\ndefault_remote: origin\nremotes:\n  origin:\n    url: {committed_url}\n"
        )
    target = hostile / "blake3" / hex_[:2] / hex_[2:]
    target.parent.mkdir(parents=True)
    target.symlink_to("/dev/zero")
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-qm", "pr")
    ci = tmp / "ci"
    git(tmp, "clone", "-q", "-b", "pr", str(repo), str(ci))
    git(ci, "branch", "-q", "main", "origin/main")
    return ci, (ci / "rem" if committed_url else hostile), hex_


def test_diff_md_on_a_pr_naming_a_relative_hostile_remote(tmp_path: Path, run: Runner) -> None:
    """The PR commits ``url: rem`` and ``rem/blake3/…`` → /dev/zero for its new listing:
    CI's ``diff --md`` ends at once with a note (whichever defence stops it first)."""
    ci, _, hex_ = _pr_world(tmp_path, run, committed_url="rem")
    result = bounded(measured(ci, "diff", "main", "pr", "--md"), code=0)
    assert "data" in result.out and "not shown" in result.out
    assert not store_of(ci).exists(hex_)


DIFF_ATTACKS = {"dev-zero": dev_zero, "fifo": fifo, "sparse-1GiB": sparse_giant}


@pytest.mark.parametrize(
    "attack",
    [
        "dev-zero",
        pytest.param("fifo", marks=pytest.mark.slow),
        pytest.param("sparse-1GiB", marks=pytest.mark.slow),
    ],
)
def test_diff_md_listing_from_a_hostile_folder(tmp_path: Path, run: Runner, attack: str) -> None:
    """The same hostile folder, configured on the CI machine itself (so nothing refuses
    the URL): the bounded read refuses the listing, the diff notes it, the cache stays
    clean."""
    ci, hostile, hex_ = _pr_world(tmp_path, run, committed_url=None)
    listing = hostile / "blake3" / hex_[:2] / hex_[2:]
    listing.unlink()
    DIFF_ATTACKS[attack](listing)
    run(ci, "remote", "add", "ci", str(hostile), "--local", "--default")
    result = bounded(measured(ci, "diff", "main", "pr", "--md"), code=0)
    assert "not shown" in result.out
    assert "not used" in result.err  # one warning line says why
    store = store_of(ci)
    assert not store.exists(hex_)


def test_diff_keeps_a_listing_only_once_it_parses(tmp_path: Path, run: Runner) -> None:
    """A listing that hashes to its id but is not a listing is never cached."""
    ci, hostile, _ = _pr_world(tmp_path, run, committed_url=None)
    garbage = b"[" * 100_000  # deeply nested: a parser bomb, not a manifest
    hex_ = hashing.hash_bytes(garbage)
    data = ci / "data.relstate.yaml"
    text = data.read_text()
    old = text.split("blake3:")[1].split()[0]
    data.write_text(text.replace(old, hex_))
    target = hostile / "blake3" / hex_[:2] / hex_[2:]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(garbage)
    run(ci, "remote", "add", "ci", str(hostile), "--local", "--default")
    result = measured(ci, "diff", "main", "--md")
    assert result.code in (0, 2), result.err
    assert result.peak_mb < PEAK_MB and result.seconds < SECONDS
    assert not store_of(ci).exists(hex_)


# -- an object store that sends more than the pointer says ------------------------------


@pytest.mark.parametrize("client", ["auto", pytest.param("fsspec", marks=pytest.mark.slow)])
def test_s3_object_larger_than_its_pointer(
    tmp_path: Path, run: Runner, s3_server: object, client: str
) -> None:
    from tests.helpers.servers import S3Server

    assert isinstance(s3_server, S3Server)
    repo = make_repo(tmp_path / "repo", run)
    (repo / "small.txt").write_bytes(SMALL)
    run(repo, "track", "small.txt")
    bucket = s3_server.make_bucket()
    url = f"s3://{bucket}/data"
    run(repo, "remote", "add", "origin", url, "-o", f"endpoint_url={s3_server.endpoint_url}")
    run(repo, "remote", "add", "origin", url, "--local", "-o", f"key={s3_server.key}",
        "-o", f"secret={s3_server.secret}")  # fmt: skip
    if client != "auto":
        run(repo, "remote", "add", "origin", url, "-o", f"endpoint_url={s3_server.endpoint_url}",
            "--client", client, "--force")  # fmt: skip
    run(repo, "push")
    hex_ = hashing.hash_bytes(SMALL)
    # 64 MiB where 6 bytes belong: more than the read may take, far less than a leak.
    s3_server.fs().pipe_file(f"{bucket}/data/blake3/{hex_[:2]}/{hex_[2:]}", b"\0" * (64 << 20))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (clone / ".relstate" / "config.local.yaml").write_text(
        (repo / ".relstate" / "config.local.yaml").read_text()
    )
    result = bounded(measured(clone, "pull"))
    assert "larger than the 6 byte(s)" in result.err
    assert not (clone / "small.txt").exists()
