#!/usr/bin/env python3
"""Scale: a million small files, and large files, against their floors and DVC.

Every figure is printed beside its *floor*, measured in the same run on the same data:
a Python ``os.walk`` + ``os.stat`` over the same tree (the least any tool written in
Python pays to notice a change), and ``cp`` of the same bytes (the least a tool pays to
put a copy in its cache). DVC runs beside where it finishes in reasonable time.

Scenarios (``--only NAME``, repeatable; default all):

``million``   FILES files of 200 B in FOLDERS folders (default 1,000,000 in 1,000):
              track; status with nothing changed; ROUNDS rounds of: change 1% of the
              files at random, status, re-track, commit; diff of the last two commits.
``dvc-100k``  100,000 files in 100 folders, both tools: status and re-track after 1%
              changed (fresh 1% per round), ours >= 10x faster; our status < 200 MB.
``status-20k`` 20,000 files, nothing changed: status vs ``dvc status``, >= 8x.
``large``     2 random files of 1 GiB: track vs ``cp`` of the same bytes (<= 1.25x) and
              ``dvc add`` (>= 1.5x faster), peak RSS < 100 MB.

    python3 benchmarks/bench_scale.py                           # everything (~20 min)
    python3 benchmarks/bench_scale.py --small                   # 10x smaller, quick
    python3 benchmarks/bench_scale.py --only million --files 200000 --keep --workdir DIR

Medians of the samples; peak RSS is ``ru_maxrss`` of the command (``os.wait4``); the
load average is printed with every scenario because the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_foundation import (
    RunResult,
    find_dvc,
    find_relstate,
    load_average,
    probe_version,
    run_measured,
)

FLOOR_WALK = (
    "import os, sys, time\n"
    "t = time.perf_counter(); n = 0\n"
    "for d, _, fs in os.walk(sys.argv[1]):\n"
    "    for f in fs:\n"
    "        os.stat(os.path.join(d, f)); n += 1\n"
    "print(time.perf_counter() - t, n)\n"
)
SMALL = 200
GIB = 1024**3


@dataclass
class Figure:
    """One measured figure against its target."""

    scenario: str
    label: str
    samples: list[float]
    rss_mb: float
    target: str
    passed: bool | None
    floor: str = ""
    dvc: str = ""
    limit: str = ""  # what bounds it (printed when the target is missed)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "label": self.label,
            "median_s": self.median,
            "samples_s": self.samples,
            "peak_rss_mb": self.rss_mb,
            "target": self.target,
            "result": {True: "PASS", False: "FAIL", None: "n/a"}[self.passed],
            "floor": self.floor,
            "dvc": self.dvc,
            "limit": self.limit,
            **self.extra,
        }


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = bench\n\temail = bench@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
        )
        drop = ("GIT_", "DVC_", "RELSTATE_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env.pop("PYTHONPATH", None)
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            GIT_CONFIG_NOSYSTEM="1",
            DVC_NO_ANALYTICS="1",
            DVC_GLOBAL_CONFIG_DIR=str(self.home / "dvc-global"),
            DVC_SYSTEM_CONFIG_DIR=str(self.home / "dvc-system"),
            DVC_SITE_CACHE_DIR=str(self.home / "dvc-site"),
            RELSTATE_SKIP_HOOKS="1",
        )
        self.env = env
        self.ours = args.relstate or find_relstate(None) or "git-relstate"
        dvc = None if args.no_dvc else find_dvc(args.dvc)
        if dvc is not None and not probe_version([dvc, "--version"], env)[0]:
            dvc = None
        if dvc is None and not args.no_dvc:
            log("DVC not found (see benchmarks/README.md): the DVC columns stay empty")
        self.dvc = dvc
        self.figures: list[Figure] = []
        self.floors: dict[str, float] = {}  # scenario -> its walk floor (s)

    # -- running ------------------------------------------------------------------

    def run(self, argv: Sequence[str], cwd: Path) -> RunResult:
        res = run_measured(list(argv), cwd, self.env, self.args.timeout)
        if not res.ok:
            raise SystemExit(f"failed ({res.returncode}): {' '.join(argv)}\n{res.stderr}")
        return res

    def relstate(self, cwd: Path, *args: str) -> RunResult:
        return self.run([self.ours, *args], cwd)

    def git(self, cwd: Path, *args: str) -> None:
        self.run(["git", *args], cwd)

    def repeat(self, n: int, fn: Callable[[], RunResult]) -> tuple[list[float], float]:
        samples, rss = [], 0.0
        for _ in range(n):
            res = fn()
            samples.append(res.seconds)
            rss = max(rss, res.max_rss_mb)
        return samples, rss

    def walk_floor(self, top: Path) -> float:
        """Median seconds of os.walk + os.stat over ``top`` (inside a fresh process)."""
        times = []
        for _ in range(self.args.repeat):
            out = self.run([sys.executable, "-c", FLOOR_WALK, str(top)], top).stdout
            times.append(float(out.split()[0]))
        return statistics.median(times)

    def add(self, fig: Figure) -> None:
        self.figures.append(fig)
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[fig.passed]
        log(
            f"  {fig.label:<44} {fig.median:8.3f} s {fig.rss_mb:6.0f} MB  "
            f"{fig.target:<28} {verdict}  {fig.floor} {fig.dvc}"
        )
        if len(fig.samples) > 1:
            log(f"      samples: {', '.join(f'{s:.2f}' for s in fig.samples)}")
        if fig.passed is False and fig.limit:
            log(f"      limited by: {fig.limit}")

    # -- data -----------------------------------------------------------------------

    def make_tree(self, root: Path, files: int, folders: int) -> None:
        """``files`` random files of 200 B in ``folders`` folders under ``root/data``."""
        rnd = random.Random(files)
        per = files // folders
        for d in range(folders):
            folder = root / "data" / f"d{d:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per):
                with open(folder / f"f{i:05d}.bin", "wb") as f:
                    f.write(rnd.randbytes(SMALL))

    def change(self, root: Path, files: int, folders: int, fraction: float, seed: int) -> int:
        """Rewrite ``fraction`` of the files (same size, new bytes), spread at random."""
        rnd = random.Random(seed)
        per = files // folders
        picked = rnd.sample(range(per * folders), max(1, int(per * folders * fraction)))
        for k in picked:
            path = root / "data" / f"d{k // per:04d}" / f"f{k % per:05d}.bin"
            with open(path, "wb") as f:
                f.write(rnd.randbytes(SMALL))
        time.sleep(0.2)  # past the racy window, as a user's next command would be
        return len(picked)

    def new_repo(self, name: str, tool: str, src: Path | None = None) -> Path:
        repo = self.workdir / name
        if repo.exists():
            shutil.rmtree(repo)
        repo.mkdir(parents=True)
        self.git(repo, "init", "-q")
        if tool == "dvc":
            assert self.dvc is not None
            self.run([self.dvc, "init", "-q"], repo)
        else:
            self.relstate(repo, "init", "--no-hooks")
        self.git(repo, "add", "-A")
        self.git(repo, "commit", "-q", "-m", "init")
        if src is not None:
            shutil.copytree(src / "data", repo / "data", copy_function=shutil.copyfile)
        return repo

    # -- scenarios --------------------------------------------------------------------

    def million(self) -> None:
        files, folders = self.args.files, self.args.folders
        log(f"million: {files:,} files of {SMALL} B in {folders:,} folders (load {load()})")
        repo = self.new_repo("million", "ours")
        t = time.perf_counter()
        self.make_tree(repo, files, folders)
        os.sync()
        log(f"  data written in {time.perf_counter() - t:.0f} s")
        floor = self.floors["million"] = self.walk_floor(repo / "data")
        log(f"  floor: os.walk + stat of {files:,} files: {floor:.3f} s (median)")
        res = self.relstate(repo, "track", "data")
        self.add(
            Figure(
                "million",
                f"track {files:,} files",
                [res.seconds],
                res.max_rss_mb,
                "<= 8x walk floor, < 600 MB",
                res.seconds <= 8 * floor and res.max_rss_mb < 600,
                floor=f"{res.seconds / floor:.1f}x floor",
                limit="reading and hashing every file, writing the pack and listing",
            )
        )
        self.git(repo, "add", "-A")
        self.git(repo, "commit", "-q", "-m", "track")
        self.relstate(repo, "status")  # warm-up
        samples, rss = self.repeat(self.args.repeat, lambda: self.relstate(repo, "status"))
        med = statistics.median(samples)
        self.add(
            Figure(
                "million",
                "status, nothing changed",
                samples,
                rss,
                "<= 1.5x walk floor, < 300 MB",
                med <= 1.5 * floor and rss < 300,
                floor=f"{med / floor:.2f}x floor",
                limit="one stat per file from Python, plus start-up",
            )
        )
        st_samples, st_rss, tr_samples, tr_rss = [], 0.0, [], 0.0
        for r in range(self.args.rounds):
            self.change(repo, files, folders, 0.01, seed=r)
            res = self.run([self.ours, "status"], repo)
            st_samples.append(res.seconds)
            st_rss = max(st_rss, res.max_rss_mb)
            res = self.relstate(repo, "track", "data")
            tr_samples.append(res.seconds)
            tr_rss = max(tr_rss, res.max_rss_mb)
            self.git(repo, "add", "-A")
            self.git(repo, "commit", "-q", "-m", f"change {r}")
        med = statistics.median(st_samples)
        self.add(
            Figure(
                "million",
                "status, 1% changed (first run after)",
                st_samples,
                st_rss,
                "<= 2x walk floor, < 300 MB",
                med <= 2 * floor and st_rss < 300,
                floor=f"{med / floor:.2f}x floor",
                limit="the walk, plus reading and hashing the changed files",
            )
        )
        med = statistics.median(tr_samples)
        self.add(
            Figure(
                "million",
                "re-track, 1% changed",
                tr_samples,
                tr_rss,
                "<= 3x walk floor",
                med <= 3 * floor,
                floor=f"{med / floor:.2f}x floor",
                limit="the walk, hashing the changed files, writing the new listing",
            )
        )
        samples, rss = self.repeat(
            self.args.repeat, lambda: self.relstate(repo, "diff", "HEAD~1", "HEAD", "--json")
        )
        med = statistics.median(samples)
        self.add(
            Figure(
                "million",
                "diff HEAD~1 HEAD (1% changed)",
                samples,
                rss,
                "< 3 s, < 300 MB",
                med < 3 and rss < 300,
                limit="reading the two listings (100 MB each at 1M files)",
            )
        )
        if not self.args.keep:
            shutil.rmtree(repo)

    def dvc_100k(self) -> None:
        files, folders = self.args.files // 10, max(1, self.args.folders // 10)
        log(f"dvc-100k: {files:,} files in {folders} folders, 1% changed (load {load()})")
        src = self.workdir / "src-100k"
        if not src.exists():
            self.make_tree(src, files, folders)
        tools = ["ours"] + (["dvc"] if self.dvc else [])
        repos = {t: self.new_repo(f"r100k-{t}", t, src) for t in tools}
        os.sync()
        for t, repo in repos.items():
            self.track(t, repo)
            self.git(repo, "add", "-A")
            self.git(repo, "commit", "-q", "-m", "track")
            self.status(t, repo)  # warm-up
        floor = self.walk_floor(repos["ours"] / "data")
        status: dict[str, list[RunResult]] = {t: [] for t in tools}
        track: dict[str, list[RunResult]] = {t: [] for t in tools}
        for r in range(self.args.rounds):
            for t in tools if r % 2 == 0 else tools[::-1]:
                self.change(repos[t], files, folders, 0.01, seed=100 + r)
                status[t].append(self.status(t, repos[t]))
                track[t].append(self.track(t, repos[t]))
                self.git(repos[t], "add", "-A")
                self.git(repos[t], "commit", "-q", "-m", f"r{r}")
        for what, got, target in (("status", status, 10.0), ("re-track", track, 10.0)):
            ours = [x.seconds for x in got["ours"]]
            rss = max(x.max_rss_mb for x in got["ours"])
            theirs = [x.seconds for x in got.get("dvc", [])]
            ratio = statistics.median(theirs) / statistics.median(ours) if theirs else None
            ok = None if ratio is None else ratio >= target
            if what == "status":
                ok = (ok is not False) and rss < 200 if ok is not None else rss < 200
            dvc = f"dvc {statistics.median(theirs):.2f} s ({ratio:.1f}x)" if theirs else ""
            self.add(
                Figure(
                    "dvc-100k",
                    f"{what}, 1% of {files:,} changed",
                    ours,
                    rss,
                    f">= {target:g}x dvc" + (", < 200 MB" if what == "status" else ""),
                    ok,
                    floor=f"{statistics.median(ours) / floor:.2f}x floor",
                    dvc=dvc,
                    limit="start-up, the walk, hashing the changed files",
                    extra={"dvc_samples_s": theirs},
                )
            )
        if not self.args.keep:
            for repo in repos.values():
                shutil.rmtree(repo)

    def status_20k(self) -> None:
        files, folders = self.args.files // 50, max(1, self.args.folders // 10)
        log(f"status-20k: {files:,} files, nothing changed (load {load()})")
        src = self.workdir / "src-20k"
        if not src.exists():
            self.make_tree(src, files, folders)
        tools = ["ours"] + (["dvc"] if self.dvc else [])
        repos = {t: self.new_repo(f"r20k-{t}", t, src) for t in tools}
        for t, repo in repos.items():
            self.track(t, repo)
            self.git(repo, "add", "-A")
            self.git(repo, "commit", "-q", "-m", "track")
            self.status(t, repo)
        floor = self.walk_floor(repos["ours"] / "data")
        got: dict[str, list[float]] = {t: [] for t in tools}
        rss = 0.0
        for r in range(max(5, self.args.repeat)):
            for t in tools if r % 2 == 0 else tools[::-1]:
                res = self.status(t, repos[t])
                got[t].append(res.seconds)
                if t == "ours":
                    rss = max(rss, res.max_rss_mb)
        ours = statistics.median(got["ours"])
        ratio = statistics.median(got["dvc"]) / ours if got.get("dvc") else None
        self.add(
            Figure(
                "status-20k",
                f"status, {files:,} files, nothing changed",
                got["ours"],
                rss,
                ">= 8x dvc",
                None if ratio is None else ratio >= 8,
                floor=f"walk floor {floor:.3f} s",
                dvc=f"dvc {statistics.median(got['dvc']):.2f} s ({ratio:.1f}x)" if ratio else "",
                limit="interpreter start-up and imports (~0.1 s) and the walk",
                extra={"dvc_samples_s": got.get("dvc", [])},
            )
        )
        if not self.args.keep:
            for repo in repos.values():
                shutil.rmtree(repo)

    def large(self) -> None:
        size = GIB // (10 if self.args.small else 1)
        log(f"large: 2 files of {size / GIB:.2f} GiB (load {load()})")
        src = self.workdir / "src-large"
        if not src.exists():
            (src / "data").mkdir(parents=True)
            for k in range(2):
                with open(src / "data" / f"part-{k}.bin", "wb") as f:
                    for _ in range(size // (64 << 20) or 1):
                        f.write(os.urandom(min(size, 64 << 20)))
        tools = ["cp", "ours"] + (["dvc"] if self.dvc else [])
        got: dict[str, list[RunResult]] = {t: [] for t in tools}
        for r in range(self.args.repeat):
            for t in tools if r % 2 == 0 else tools[::-1]:
                repo = self.new_repo("large-" + t, "dvc" if t == "dvc" else "ours", src)
                os.sync()
                parts = ["data/part-0.bin", "data/part-1.bin"]
                if t == "cp":
                    (repo / "copy").mkdir()
                    got[t].append(self.run(["cp", *parts, "copy/"], repo))
                elif t == "ours":
                    got[t].append(self.relstate(repo, "track", *parts))
                else:
                    assert self.dvc is not None
                    got[t].append(self.run([self.dvc, "add", *parts], repo))
                shutil.rmtree(repo)
        med = {t: statistics.median(x.seconds for x in got[t]) for t in tools}
        rss = max(x.max_rss_mb for x in got["ours"])
        ours = [x.seconds for x in got["ours"]]
        self.add(
            Figure(
                "large",
                "track 2 large files vs cp",
                ours,
                rss,
                "<= 1.25x cp, < 100 MB",
                med["ours"] <= 1.25 * med["cp"] and rss < 100,
                floor=f"cp {med['cp']:.2f} s ({med['ours'] / med['cp']:.2f}x)",
                limit="the copy into the cache plus hashing it (2 cores, shared)",
                extra={"cp_samples_s": [x.seconds for x in got["cp"]]},
            )
        )
        if "dvc" in med:
            ratio = med["dvc"] / med["ours"]
            self.add(
                Figure(
                    "large",
                    "track 2 large files vs dvc add",
                    ours,
                    rss,
                    ">= 1.5x dvc",
                    ratio >= 1.5,
                    dvc=f"dvc {med['dvc']:.2f} s ({ratio:.1f}x)",
                    extra={"dvc_samples_s": [x.seconds for x in got["dvc"]]},
                )
            )
        if not self.args.keep:
            shutil.rmtree(src)

    def track(self, tool: str, repo: Path) -> RunResult:
        if tool == "dvc":
            assert self.dvc is not None
            return self.run([self.dvc, "add", "data"], repo)
        return self.relstate(repo, "track", "data")

    def status(self, tool: str, repo: Path) -> RunResult:
        if tool == "dvc":
            assert self.dvc is not None
            return self.run([self.dvc, "status"], repo)
        return self.run([self.ours, "status"], repo)


def log(msg: str) -> None:
    print(msg, flush=True)


def load() -> str:
    value = load_average()
    return "?" if value is None else f"{value:.1f}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", action="append", choices=SCENARIOS, help="scenario(s) to run")
    p.add_argument("--files", type=int, default=1_000_000)
    p.add_argument("--folders", type=int, default=1_000)
    p.add_argument("--small", action="store_true", help="10x smaller (a smoke test)")
    p.add_argument("--repeat", type=int, default=3, help="samples of repeatable commands")
    p.add_argument("--rounds", type=int, default=3, help="rounds of 1%% change + re-track")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the repositories")
    p.add_argument("--relstate", help="the git-relstate executable")
    p.add_argument("--dvc", help="the dvc executable")
    p.add_argument("--no-dvc", action="store_true")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    if args.small:
        args.files //= 10
        args.folders //= 10
    return args


SCENARIOS = ("million", "dvc-100k", "status-20k", "large")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(workdir).free / GIB
    log(f"bench_scale: {workdir} ({free:.0f} GiB free), {os.cpu_count()} CPUs, load {load()}")
    bench = Bench(args, workdir)
    runners = {
        "million": bench.million,
        "dvc-100k": bench.dvc_100k,
        "status-20k": bench.status_20k,
        "large": bench.large,
    }
    try:
        for name in args.only or SCENARIOS:
            runners[name]()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    doc = {
        "load_average_end": load_average(),
        "cpus": os.cpu_count(),
        "figures": [f.to_json() for f in bench.figures],
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    missed = [f for f in bench.figures if f.passed is False]
    log(f"{len(bench.figures)} figures, {len(missed)} missed their target")
    for f in missed:
        log(f"  missed: {f.label} ({f.target}): {f.limit}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
