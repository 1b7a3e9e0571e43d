#!/usr/bin/env python3
"""Side-by-side benchmark of gitrelstate against DVC on the same generated data.

For each scenario the script creates two fresh Git repositories holding identical
copies of the generated data -- one set up with ``git relstate init --no-hooks``,
one with ``dvc init`` -- and measures the wall time and the peak resident set size
of each tool's process (via ``os.wait4``, so only the child and the descendants it
waited for are counted, never this script).  It prints one table per scenario with
both tools' seconds, the ratio dvc/gitrelstate, the target from the issue and
PASS/FAIL.

All runs are warm-cache: dropping the page cache needs root, so instead both tools
run under the same conditions (the data of both repositories is written and synced
before either tool is timed, and the order of the tools alternates between repeats).

Stdlib only.  See benchmarks/README.md for how to install DVC and rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DVC_VERSION_EXPECTED = "3.67.1"
MIB = 1024 * 1024
GIB = 1024 * MIB

# Canonical order: cheap scenarios first, the 2 GiB one last.
SCENARIOS: tuple[str, ...] = (
    "startup",
    "track-many",
    "status-many",
    "retrack-many",
    "status-huge",
    "track-large",
)
SCENARIO_HELP = {
    "startup": "git relstate --version vs dvc version (and dvc --version)",
    "track-many": "track a directory of 20,000 x 4 KiB files vs dvc add",
    "status-many": "status, nothing changed, 20,000 files vs dvc status",
    "retrack-many": "re-track the unchanged 20,000-file directory vs dvc add again",
    "status-huge": "status, nothing changed, 200,000 files (DVC only with --dvc-large)",
    "track-large": "track 2 GiB in 2 incompressible files vs dvc add",
}


class BenchError(Exception):
    """A setup step failed; the scenario cannot be measured."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Dataset:
    """Generated data: ``data/`` with either ``ndirs`` subdirectories of
    ``files_per_dir`` files, or (``ndirs == 0``) ``files_per_dir`` files directly."""

    name: str
    ndirs: int
    files_per_dir: int
    file_size: int
    seed: int
    track_dir: bool  # track "data" as one directory, else each file separately

    @property
    def nfiles(self) -> int:
        return max(self.ndirs, 1) * self.files_per_dir

    @property
    def total_bytes(self) -> int:
        return self.nfiles * self.file_size

    def files(self) -> Iterator[str]:
        """Relative paths (under the dataset root) of every file, in order."""
        if self.ndirs == 0:
            for j in range(self.files_per_dir):
                yield f"data/part-{j}.bin"
            return
        for i in range(self.ndirs):
            for j in range(self.files_per_dir):
                yield f"data/d{i:04d}/f{j:05d}.bin"

    def track_paths(self) -> list[str]:
        return ["data"] if self.track_dir else list(self.files())

    def sample_files(self) -> list[str]:
        """A few data files that must be git-ignored once tracked."""
        files = list(self.files())
        return sorted({files[0], files[len(files) // 2], files[-1]})

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ndirs": self.ndirs,
            "files_per_dir": self.files_per_dir,
            "file_size": self.file_size,
            "seed": self.seed,
            "format": 1,
        }

    def describe(self) -> str:
        if self.ndirs == 0:
            return (
                f"{self.nfiles:,} files of {fmt_bytes(self.file_size)}, "
                f"{fmt_bytes(self.total_bytes)} total, random (incompressible)"
            )
        layout = f"{self.ndirs} dirs x {self.files_per_dir} files"
        return (
            f"{self.nfiles:,} files of {fmt_bytes(self.file_size)} ({layout}), "
            f"{fmt_bytes(self.total_bytes)} total"
        )


def datasets(scale: int) -> dict[str, Dataset]:
    return {
        "large": Dataset("large", 0, 2, GIB // scale, seed=1, track_dir=False),
        "many": Dataset("many", 100 // scale, 200, 4096, seed=2, track_dir=True),
        "huge": Dataset("huge", 500 // scale, 400, 4096, seed=3, track_dir=True),
    }


SCENARIO_DATASET = {
    "startup": None,
    "track-many": "many",
    "status-many": "many",
    "retrack-many": "many",
    "status-huge": "huge",
    "track-large": "large",
}


def generate(ds: Dataset, root: Path) -> Path:
    """Write the dataset under ``root/<name>/data`` once; reuse it when the marker
    says it is complete and of the same spec.  Returns ``root/<name>``."""
    target = root / ds.name
    marker = target / "complete.json"
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == ds.spec():
                return target
        except (OSError, ValueError):
            pass
    if target.exists():
        shutil.rmtree(target)
    log(f"generating dataset {ds.name!r}: {ds.describe()} ...")
    t0 = time.perf_counter()
    rng = random.Random(ds.seed)
    chunk = 8 * MIB
    made: set[Path] = set()
    for rel in ds.files():
        path = target / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with open(path, "wb") as fh:
            left = ds.file_size
            while left > 0:
                n = min(chunk, left)
                fh.write(rng.randbytes(n))
                left -= n
    os.sync()
    marker.write_text(json.dumps(ds.spec()))
    log(f"  generated in {time.perf_counter() - t0:.1f} s")
    return target


# ------------------------------------------------------------------------ running


@dataclass
class RunResult:
    argv: list[str]
    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(data: bytes, limit: int = 2000) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "..." + text[-limit:]


def run_measured(argv: Sequence[str], cwd: Path, env: dict[str, str], timeout: float) -> RunResult:
    """Run ``argv`` and return its wall time and peak RSS (from ``os.wait4``: the
    child and the descendants it waited for, max not sum)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
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
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped by wait4; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        stdout = _tail(out.read())
        stderr = _tail(err.read())
    # ru_maxrss is KiB on Linux, bytes on macOS.
    divisor = MIB if sys.platform == "darwin" else 1024
    if code == -signal.SIGKILL and seconds >= timeout:
        stderr += f"\n[benchmark: killed after {timeout:.0f} s timeout]"
    return RunResult(list(argv), seconds, usage.ru_maxrss / divisor, code, stdout, stderr)


@dataclass
class Tool:
    name: str  # "gitrelstate" or "dvc"
    base: list[str]
    version: str = ""

    def init(self) -> list[str]:
        if self.name == "dvc":
            return [*self.base, "init", "-q"]
        return [*self.base, "init", "--no-hooks"]

    def track(self, paths: Sequence[str]) -> list[str]:
        verb = "add" if self.name == "dvc" else "track"
        return [*self.base, verb, *paths]

    def status(self) -> list[str]:
        return [*self.base, "status"]

    def version_cmds(self) -> list[tuple[str, list[str]]]:
        if self.name == "dvc":
            return [
                ("dvc version", [*self.base, "version"]),
                ("dvc --version", [*self.base, "--version"]),
            ]
        return [("git relstate --version", [*self.base, "--version"])]


class Context:
    """Work directory, isolated environment, tools, and repo pairs kept for reuse."""

    def __init__(self, args: argparse.Namespace, workdir: Path, tools: list[Tool]) -> None:
        self.args = args
        self.workdir = workdir
        self.tools = tools
        self.timeout: float = args.timeout
        self.datadir = workdir / "data"
        self.reposdir = workdir / "repos"
        self.home = workdir / "home"
        self.empty = workdir / "empty"
        for d in (self.datadir, self.reposdir, self.home, self.empty):
            d.mkdir(parents=True, exist_ok=True)
        self.env = self._make_env()
        self.kept: dict[str, dict[str, Path]] = {}  # dataset name -> tool -> tracked repo
        self._counter = 0
        self.status_median: dict[str, float] = {}  # dataset name -> our median status s

    def _make_env(self) -> dict[str, str]:
        drop_prefixes = ("GIT_", "DVC_", "RELSTATE_", "GITRELSTATE_")
        drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONWARNINGS"}
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k not in drop
        }
        (self.home / ".config").mkdir(exist_ok=True)
        (self.home / ".cache").mkdir(exist_ok=True)
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = relstate bench\n\temail = bench@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n"
            "[commit]\n\tgpgsign = false\n"
            "[core]\n\tautocrlf = false\n"
            "[advice]\n\tdetachedHead = false\n"
        )
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            DVC_NO_ANALYTICS="1",
            DVC_GLOBAL_CONFIG_DIR=str(self.home / ".config" / "dvc"),
            DVC_SYSTEM_CONFIG_DIR=str(self.home / "dvc-system"),
            DVC_SITE_CACHE_DIR=str(self.home / "dvc-site-cache"),
        )
        if self.args.via_git:
            ours = next((t for t in self.tools if t.name == "gitrelstate"), None)
            if ours is not None and self.args.relstate_exe:
                bindir = str(Path(self.args.relstate_exe).parent)
                env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        return env

    # -- helpers ------------------------------------------------------------------

    def run(self, argv: Sequence[str], cwd: Path) -> RunResult:
        return run_measured(argv, cwd, self.env, self.timeout)

    def must(self, argv: Sequence[str], cwd: Path, what: str) -> RunResult:
        res = self.run(argv, cwd)
        if not res.ok:
            raise BenchError(
                f"{what} failed (exit {res.returncode}): {' '.join(argv)}\n{res.stderr.strip()}"
            )
        return res

    def order(self, i: int, tools: Sequence[Tool] | None = None) -> list[Tool]:
        ts = list(tools if tools is not None else self.tools)
        return ts if i % 2 == 0 else ts[::-1]

    def dataset(self, ds: Dataset) -> Path:
        return generate(ds, self.datadir)

    def fresh_pair(self, ds: Dataset, tools: Sequence[Tool]) -> dict[str, Path]:
        """New repos (one per tool) with identical copies of the data, initialised,
        committed and synced to disk, so the timed command starts from equal ground."""
        src = self.dataset(ds)
        self._counter += 1
        pair: dict[str, Path] = {}
        for tool in tools:
            repo = self.reposdir / f"{ds.name}-{self._counter}-{tool.name}"
            repo.mkdir(parents=True)
            self.must(["git", "init", "-q"], repo, "git init")
            self.must(tool.init(), repo, f"{tool.name} init")
            self.must(["git", "add", "-A"], repo, "git add")
            self.must(["git", "commit", "-q", "-m", "init"], repo, "git commit")
            pair[tool.name] = repo
        for tool in tools:
            shutil.copytree(src / "data", pair[tool.name] / "data", copy_function=shutil.copyfile)
        os.sync()
        return pair

    def commit_tracked(self, ds: Dataset, tool: Tool, repo: Path) -> None:
        """Check the tool git-ignored the data, then commit its pointer files."""
        res = self.must(
            ["git", "check-ignore", "--no-index", "-v", *ds.sample_files()], repo, "check"
        )
        ignored = {line.split("\t", 1)[-1] for line in res.stdout.splitlines() if line}
        missing = [f for f in ds.sample_files() if f not in ignored]
        if missing:
            raise BenchError(f"{tool.name} did not git-ignore tracked data: {missing}")
        self.must(["git", "add", "-A"], repo, "git add")
        self.must(["git", "commit", "-q", "-m", "track data"], repo, "git commit")

    def tracked_pair(self, ds: Dataset, tools: Sequence[Tool]) -> dict[str, Path]:
        kept = self.kept.get(ds.name, {})
        if all(t.name in kept for t in tools):
            return {t.name: kept[t.name] for t in tools}
        missing = [t for t in tools if t.name not in kept]
        pair = self.fresh_pair(ds, missing)
        for tool in missing:
            log(f"  setup: {tool.name} tracking {ds.name} (not timed) ...")
            res = self.must(tool.track(ds.track_paths()), pair[tool.name], f"{tool.name} track")
            log(f"    {res.seconds:.2f} s, {res.max_rss_mb:.0f} MB")
            self.commit_tracked(ds, tool, pair[tool.name])
        os.sync()
        kept.update(pair)
        self.kept[ds.name] = kept
        return {t.name: kept[t.name] for t in tools}

    def drop_unneeded(self, remaining: Sequence[str]) -> None:
        needed = {SCENARIO_DATASET[s] for s in remaining}
        for name in list(self.kept):
            if name not in needed:
                for repo in self.kept.pop(name).values():
                    remove_tree(repo)
        if not self.args.keep_data:
            for child in self.datadir.iterdir():
                if child.name not in needed:
                    remove_tree(child)


# ------------------------------------------------------------------------ results


@dataclass
class Measure:
    results: list[RunResult] = field(default_factory=list)

    def add(self, res: RunResult) -> None:
        self.results.append(res)

    @property
    def failed(self) -> RunResult | None:
        return next((r for r in self.results if not r.ok), None)

    @property
    def median(self) -> float | None:
        if not self.results or self.failed:
            return None
        return statistics.median(r.seconds for r in self.results)

    @property
    def rss_mb(self) -> float | None:
        return max((r.max_rss_mb for r in self.results), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "median_s": self.median,
            "samples_s": [round(r.seconds, 4) for r in self.results],
            "peak_rss_mb": self.rss_mb,
            "returncodes": [r.returncode for r in self.results],
            "argv": self.results[0].argv if self.results else None,
            "error": (self.failed.stderr.strip() if self.failed else None),
        }


@dataclass
class Target:
    kind: str  # "ratio_min" | "ours_max_s" | "ours_max_rss_mb" | "ours_max_rel_status"
    value: float
    slack: float = 0.0
    label: str = ""

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.kind == "ratio_min":
            return f">= {self.value:g}x faster"
        if self.kind == "ours_max_s":
            return f"ours < {self.value:g} s"
        if self.kind == "ours_max_rss_mb":
            return f"ours RSS < {self.value:g} MB"
        return f"ours <= {self.value:g}x status + {self.slack:g} s"


@dataclass
class Row:
    scenario: str
    label: str
    ours: Measure | None
    dvc: Measure | None
    targets: list[Target]
    reference_s: float | None = None  # for ours_max_rel_status
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.dvc is None:
            return None
        a, b = self.ours.median, self.dvc.median
        if a is None or b is None or a <= 0:
            return None
        return b / a

    def verdict(self, t: Target) -> str:
        ours = self.ours.median if self.ours else None
        if t.kind == "ratio_min":
            r = self.ratio
            return "n/a" if r is None else ("PASS" if r >= t.value else "FAIL")
        if ours is None or self.ours is None:
            return "n/a"
        if t.kind == "ours_max_s":
            return "PASS" if ours < t.value else "FAIL"
        if t.kind == "ours_max_rss_mb":
            rss = self.ours.rss_mb
            return "n/a" if rss is None else ("PASS" if rss < t.value else "FAIL")
        if self.reference_s is None:
            return "n/a"
        return "PASS" if ours <= t.value * self.reference_s + t.slack else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "label": self.label,
            "gitrelstate": self.ours.to_json() if self.ours else None,
            "dvc": self.dvc.to_json() if self.dvc else None,
            "ratio_dvc_over_ours": self.ratio,
            "reference_s": self.reference_s,
            "targets": [
                {
                    "target": t.describe(),
                    "kind": t.kind,
                    "value": t.value,
                    "result": self.verdict(t),
                }
                for t in self.targets
            ],
            "notes": [*self.notes, *noise_notes(self)],
        }


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def fmt_s(m: Measure | None) -> str:
    if m is None:
        return "-"
    if m.failed:
        return "ERROR"
    med = m.median
    return "-" if med is None else f"{med:.3f} s"


def fmt_rss(m: Measure | None) -> str:
    rss = m.rss_mb if m else None
    return "-" if rss is None else f"{rss:.0f} MB"


def noise_notes(row: Row) -> list[str]:
    """Flag measurements whose samples spread by more than 1.5x (max/min)."""
    notes = []
    for who, m in (("gitrelstate", row.ours), ("dvc", row.dvc)):
        if m is None or m.failed is not None or len(m.results) < 2:
            continue
        secs = [r.seconds for r in m.results]
        if min(secs) > 0 and max(secs) / min(secs) > 1.5:
            shown = ", ".join(f"{x:.2f}" for x in secs)
            notes.append(f"noisy {who} samples (s): {shown}")
    return notes


def print_table(title: str, rows: Sequence[Row]) -> None:
    headers = [
        "metric",
        "gitrelstate",
        "dvc",
        "dvc/ours",
        "target",
        "result",
        "RSS ours",
        "RSS dvc",
    ]
    if not rows:
        print()
        print(f"== {title}")
        sys.stdout.flush()
        return
    lines: list[list[str]] = []
    for row in rows:
        ratio = row.ratio
        targets = row.targets or [Target("info", 0, label="(info)")]
        for k, t in enumerate(targets):
            first = k == 0
            lines.append(
                [
                    row.label if first else "",
                    fmt_s(row.ours) if first else "",
                    fmt_s(row.dvc) if first else "",
                    (f"{ratio:.1f}x" if ratio is not None else "-") if first else "",
                    t.describe(),
                    row.verdict(t) if row.targets else "",
                    fmt_rss(row.ours) if first else "",
                    fmt_rss(row.dvc) if first else "",
                ]
            )
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(headers)]
    right = {1, 2, 3, 6, 7}

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
        for note in [*row.notes, *noise_notes(row)]:
            print(f"   note: {note}")
    sys.stdout.flush()


# ---------------------------------------------------------------------- scenarios


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def remove_tree(path: Path) -> None:
    if not path.exists():
        return

    def onerror(func: Any, p: str, exc: Any) -> None:
        # Caches may hold read-only files/dirs: make writable and retry.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o755)
            func(p)

    shutil.rmtree(path, onerror=onerror)


def by_name(tools: Sequence[Tool], name: str) -> Tool | None:
    return next((t for t in tools if t.name == name), None)


def sync_between() -> None:
    """Flush writeback from the previous command so it does not land on the next."""
    os.sync()


def scenario_startup(ctx: Context) -> tuple[str, list[Row]]:
    ours_t, dvc_t = by_name(ctx.tools, "gitrelstate"), by_name(ctx.tools, "dvc")
    jobs: list[tuple[str, str, list[str]]] = []  # (tool, label, argv)
    for tool in ctx.tools:
        for label, argv in tool.version_cmds():
            jobs.append((tool.name, label, argv))
    measures = {label: Measure() for _, label, _ in jobs}
    for _, _, argv in jobs:  # warm-up, not timed
        ctx.run(argv, ctx.empty)
    for i in range(ctx.args.repeat):
        seq = jobs if i % 2 == 0 else jobs[::-1]
        for _, label, argv in seq:
            measures[label].add(ctx.run(argv, ctx.empty))
    ours = measures.get("git relstate --version") if ours_t else None
    rows = []
    dvc_labels = ["dvc version", "dvc --version"] if dvc_t else [None]
    for k, dl in enumerate(dvc_labels):
        targets = [Target("ours_max_s", 0.15)] if k == 0 else []
        label = "--version vs " + (dl or "(no dvc)")
        rows.append(Row("startup", label, ours, measures[dl] if dl else None, targets))
    title = f"startup: run in an empty non-repo dir (warm, median of {ctx.args.repeat})"
    return title, rows


def scenario_track(ctx: Context, ds: Dataset, scenario: str) -> tuple[str, list[Row]]:
    repeats = ctx.args.track_repeat
    measures = {t.name: Measure() for t in ctx.tools}
    keep = any(SCENARIO_DATASET[s] == ds.name for s in ctx.args.remaining)
    for i in range(repeats):
        pair = ctx.fresh_pair(ds, ctx.tools)
        for tool in ctx.order(i):
            log(f"  {scenario} #{i + 1}: {tool.name} ...")
            sync_between()
            res = ctx.run(tool.track(ds.track_paths()), pair[tool.name])
            measures[tool.name].add(res)
            log(f"    {res.seconds:.2f} s, {res.max_rss_mb:.0f} MB, exit {res.returncode}")
        last = i == repeats - 1
        if last and keep and all(m.failed is None for m in measures.values()):
            for tool in ctx.tools:
                ctx.commit_tracked(ds, tool, pair[tool.name])
            ctx.kept[ds.name] = dict(pair)
        else:
            for repo in pair.values():
                remove_tree(repo)
    if ds.name == "large":
        targets = [Target("ratio_min", 5), Target("ours_max_rss_mb", 100)]
        label = f"track {fmt_bytes(ds.total_bytes)} / {ds.nfiles} files"
    else:
        targets = [Target("ratio_min", 8)]
        label = f"track dir of {ds.nfiles:,} files"
    row = Row(scenario, label, measures.get("gitrelstate"), measures.get("dvc"), targets)
    title = (
        f"{scenario}: {ds.describe()}; fresh repos each repeat (warm cache, median of {repeats})"
    )
    return title, [row]


def measure_status(
    ctx: Context, ds: Dataset, tools: Sequence[Tool], pair: dict[str, Path]
) -> dict[str, Measure]:
    measures = {t.name: Measure() for t in tools}
    for tool in tools:  # warm-up, not timed
        res = ctx.run(tool.status(), pair[tool.name])
        if not res.ok:
            measures[tool.name].add(res)
    for i in range(ctx.args.repeat):
        for tool in ctx.order(i, tools):
            if measures[tool.name].failed is None:
                measures[tool.name].add(ctx.run(tool.status(), pair[tool.name]))
    return measures


def status_notes(measures: dict[str, Measure]) -> list[str]:
    notes = []
    dvc = measures.get("dvc")
    if dvc and dvc.results and dvc.failed is None:
        out = dvc.results[-1].stdout.strip()
        if "up to date" not in out:
            notes.append(f"dvc status did not say up to date: {out[:200]!r}")
    return notes


def scenario_status(ctx: Context, ds: Dataset, scenario: str) -> tuple[str, list[Row]]:
    tools = ctx.tools
    if scenario == "status-huge" and not ctx.args.dvc_large:
        tools = [t for t in ctx.tools if t.name != "dvc"]
    if not tools:
        return f"{scenario}: skipped (gitrelstate missing; DVC runs here only with --dvc-large)", []
    pair = ctx.tracked_pair(ds, tools)
    measures = measure_status(ctx, ds, tools, pair)
    ours = measures.get("gitrelstate")
    if ours is not None and ours.median is not None:
        ctx.status_median[ds.name] = ours.median
    huge = scenario == "status-huge"
    targets = [Target("ours_max_s", 2.0)] if huge else [Target("ratio_min", 8)]
    row = Row(
        scenario,
        f"status, unchanged, {ds.nfiles:,} files",
        ours,
        measures.get("dvc"),
        targets,
        notes=status_notes(measures),
    )
    if scenario == "status-huge" and "dvc" not in measures:
        row.notes.append("DVC not run on this size (pass --dvc-large to include it)")
    title = (
        f"{scenario}: {ds.describe()}, tracked and committed (warm, median of {ctx.args.repeat})"
    )
    return title, [row]


def scenario_retrack(ctx: Context, ds: Dataset, scenario: str) -> tuple[str, list[Row]]:
    pair = ctx.tracked_pair(ds, ctx.tools)
    ours_t = by_name(ctx.tools, "gitrelstate")
    reference = ctx.status_median.get(ds.name)
    if ours_t is not None and reference is None:
        st = measure_status(ctx, ds, [ours_t], pair)["gitrelstate"]
        reference = st.median
    measures = {t.name: Measure() for t in ctx.tools}
    for i in range(ctx.args.repeat):
        for tool in ctx.order(i):
            if measures[tool.name].failed is None:
                sync_between()
                measures[tool.name].add(ctx.run(tool.track(ds.track_paths()), pair[tool.name]))
    notes = []
    for tool in ctx.tools:
        res = ctx.must(["git", "status", "--porcelain"], pair[tool.name], "git status")
        if res.stdout.strip():
            lines = res.stdout.strip().splitlines()
            notes.append(f"{tool.name}: work tree changed by re-track: {lines[:5]}")
    if reference is not None:
        notes.append(f"reference: gitrelstate status on the same repo = {reference:.3f} s")
    row = Row(
        scenario,
        f"re-track unchanged {ds.nfiles:,} files",
        measures.get("gitrelstate"),
        measures.get("dvc"),
        [Target("ours_max_rel_status", 2.0, slack=0.1, label="ours <= 2x status + 0.1 s")],
        reference_s=reference,
        notes=notes,
    )
    title = f"{scenario}: {ds.describe()}, already tracked (warm, median of {ctx.args.repeat})"
    return title, [row]


def run_scenario(ctx: Context, name: str, dsets: dict[str, Dataset]) -> tuple[str, list[Row]]:
    if name == "startup":
        return scenario_startup(ctx)
    ds = dsets[SCENARIO_DATASET[name] or ""]
    if name.startswith("track-"):
        return scenario_track(ctx, ds, name)
    if name.startswith("status-"):
        return scenario_status(ctx, ds, name)
    return scenario_retrack(ctx, ds, name)


# ---------------------------------------------------------------------- discovery


def probe_version(argv: list[str], env: dict[str, str]) -> tuple[bool, str]:
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    text = (res.stdout.strip() or res.stderr.strip()).splitlines()
    return res.returncode == 0, (text[-1] if text else "")


def find_relstate(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "git-relstate"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("git-relstate")


def find_dvc(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    venv = REPO_ROOT / ".bench-venv" / "bin" / "dvc"
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    return shutil.which("dvc")


DVC_INSTALL_HINT = f"""\
DVC not found: the DVC side is skipped.  Install it into its own virtualenv:
    python3 -m venv {REPO_ROOT}/.bench-venv
    {REPO_ROOT}/.bench-venv/bin/pip install dvc=={DVC_VERSION_EXPECTED}
or pass --dvc /path/to/dvc."""

RELSTATE_INSTALL_HINT = f"""\
git-relstate not found or not working: the gitrelstate side is skipped.
Install the project (e.g. `pip install -e {REPO_ROOT}`) or pass --relstate PATH."""


def discover_tools(args: argparse.Namespace, probe_env: dict[str, str]) -> list[Tool]:
    tools: list[Tool] = []
    if not args.no_relstate:
        exe = find_relstate(args.relstate)
        args.relstate_exe = exe
        if exe is None:
            log(RELSTATE_INSTALL_HINT)
        else:
            ok, ver = probe_version([exe, "--version"], probe_env)
            if ok:
                base = ["git", "relstate"] if args.via_git else [exe]
                tools.append(Tool("gitrelstate", base, ver))
            else:
                log(f"`{exe} --version` failed: {ver}")
                log(RELSTATE_INSTALL_HINT)
    else:
        args.relstate_exe = None
    if not args.no_dvc:
        exe = find_dvc(args.dvc)
        if exe is None:
            log(DVC_INSTALL_HINT)
        else:
            ok, ver = probe_version([exe, "--version"], probe_env)
            if ok:
                if ver != DVC_VERSION_EXPECTED:
                    log(
                        f"note: DVC {ver} found; the reference numbers are for DVC "
                        f"{DVC_VERSION_EXPECTED}"
                    )
                tools.append(Tool("dvc", [exe], ver))
            else:
                log(f"`{exe} --version` failed: {ver}")
                log(DVC_INSTALL_HINT)
    return tools


def fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    target = str(path.resolve())
    try:
        with open("/proc/mounts") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    mnt = parts[1]
                    inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
                    if inside and len(mnt) > len(best):
                        best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return None


def load_average() -> float | None:
    """1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def git_version() -> str:
    try:
        return subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "git not found"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark gitrelstate against DVC side by side (warm cache).",
        epilog="scenarios:\n" + "\n".join(f"  {n:<13} {SCENARIO_HELP[n]}" for n in SCENARIOS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        metavar="SCENARIO",
        help="run only this scenario (repeatable); default: all",
    )
    p.add_argument(
        "--small",
        action="store_true",
        help="scale all data down 10x for a quick smoke run (targets unchanged)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="timed runs per tool for cheap commands (status, version, re-track);"
        " the median is reported (default 5)",
    )
    p.add_argument(
        "--track-repeat",
        type=int,
        default=1,
        help="repeats of the first-time track scenarios; each needs fresh repos "
        "and a fresh copy of the data (default 1)",
    )
    p.add_argument("--json", metavar="PATH", help="write all results and samples as JSON")
    p.add_argument(
        "--workdir",
        metavar="DIR",
        help="where data and repos go (default: a new temp dir, removed at the end)",
    )
    p.add_argument("--keep", action="store_true", help="do not delete the work dir at the end")
    p.add_argument(
        "--keep-data",
        action="store_true",
        help="keep generated data between scenarios / for the next run with the same --workdir",
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
    p.add_argument(
        "--via-git",
        action="store_true",
        help="invoke ours as `git relstate ...` instead of `git-relstate ...`",
    )
    p.add_argument("--no-dvc", action="store_true", help="measure gitrelstate only")
    p.add_argument("--no-relstate", action="store_true", help="measure DVC only")
    p.add_argument(
        "--dvc-large",
        action="store_true",
        help="also run DVC on the 200,000-file status scenario (slow setup)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds before one command is killed (default 3600)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when any target FAILs (default: only on errors)",
    )
    args = p.parse_args(argv)
    if args.repeat < 1 or args.track_repeat < 1:
        p.error("--repeat and --track-repeat must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = 10 if args.small else 1
    dsets = datasets(scale)
    selected = [s for s in SCENARIOS if not args.only or s in args.only]

    if args.workdir:
        workdir = Path(args.workdir).resolve()
        own_workdir = False
    else:
        workdir = Path(tempfile.mkdtemp(prefix="relstate-bench-"))
        own_workdir = not args.keep
    try:
        workdir.relative_to(REPO_ROOT)
    except ValueError:
        pass
    else:
        print(
            f"error: --workdir {workdir} is inside the repository; use a dir outside it",
            file=sys.stderr,
        )
        return 2
    workdir.mkdir(parents=True, exist_ok=True)

    # Discovery runs in the same isolated HOME the benchmark uses.
    probe_home = workdir / "home"
    probe_home.mkdir(parents=True, exist_ok=True)
    probe_env = dict(
        os.environ, HOME=str(probe_home), GIT_CONFIG_NOSYSTEM="1", DVC_NO_ANALYTICS="1"
    )
    tools = discover_tools(args, probe_env)
    if not tools:
        print(
            "error: neither git-relstate nor dvc is available; nothing to measure", file=sys.stderr
        )
        return 1

    kind = fs_type(workdir)
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "mem_total_gib": mem_total_gib(),
        "workdir": str(workdir),
        "workdir_fs": kind,
        "git": git_version(),
        "tools": {t.name: {"version": t.version, "argv": t.base} for t in tools},
        "small": args.small,
        "repeat": args.repeat,
        "track_repeat": args.track_repeat,
        "cache": "warm (page cache not dropped; both tools under the same conditions)",
    }
    print(f"gitrelstate vs DVC benchmark -- {meta['date']}")
    print(
        f"  machine: {meta['platform']}, {meta['cpus']} CPUs, "
        f"{(meta['mem_total_gib'] or 0):.1f} GiB RAM, workdir {workdir} ({kind})"
    )
    for t in tools:
        print(f"  {t.name}: {t.version}  [{' '.join(t.base)}]")
    for missing in {"gitrelstate", "dvc"} - {t.name for t in tools}:
        print(f"  {missing}: not available, its side is skipped")
    if args.small:
        print("  --small: data scaled down 10x; targets are for the full size")
    load = load_average()
    meta["load_avg_start"] = load
    if load is not None and load > 0.5:
        print(
            f"  warning: load average {load:.2f} before starting: other processes are "
            "running, numbers will be noisy (use more repeats, or a quiet machine)"
        )
    if kind in ("tmpfs", "ramfs"):
        print(f"  warning: workdir is on {kind}; numbers will not reflect a disk")
    sys.stdout.flush()

    ctx = Context(args, workdir, tools)
    results: list[dict[str, Any]] = []
    errors = 0
    fails = 0
    try:
        for k, name in enumerate(selected):
            args.remaining = selected[k + 1 :]
            ds_name = SCENARIO_DATASET[name]
            if ds_name is not None:
                need = dsets[ds_name].total_bytes * (2 * len(tools) + 1) + GIB
                free = shutil.disk_usage(workdir).free
                if free < need:
                    print(
                        f"\n== {name}: skipped, needs ~{fmt_bytes(need)} free in {workdir}, "
                        f"has {fmt_bytes(free)}"
                    )
                    errors += 1
                    continue
            log(f"\n[{name}] {SCENARIO_HELP[name]}")
            t0 = time.perf_counter()
            try:
                title, rows = run_scenario(ctx, name, dsets)
            except BenchError as exc:
                print(f"\n== {name}: setup failed\n   {exc}")
                results.append({"scenario": name, "error": str(exc)})
                errors += 1
            else:
                print_table(title, rows)
                if not rows:
                    results.append({"scenario": name, "skipped": title})
                for row in rows:
                    results.append(row.to_json())
                    for m in (row.ours, row.dvc):
                        if m is not None and m.failed is not None:
                            errors += 1
                    fails += sum(row.verdict(t) == "FAIL" for t in row.targets)
            log(f"[{name}] done in {time.perf_counter() - t0:.1f} s")
            ctx.drop_unneeded(args.remaining)
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
            if not args.keep_data:
                remove_tree(ctx.datadir)

    meta["load_avg_end"] = load_average()
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    print(f"\nsummary: {fails} target(s) failed, {errors} error(s)")
    if errors:
        return 1
    return 1 if (args.check and fails) else 0


if __name__ == "__main__":
    sys.exit(main())
