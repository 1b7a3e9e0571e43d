#!/usr/bin/env python3
"""How much the git hooks cost: gitrelstate's pre-commit check on a repository with
20,000 tracked files and a few hundred pointers, nothing changed (target < 0.5 s),
and what the hooks add to ``git commit`` and ``git push``.

The repository: ``data/`` (100 dirs x 200 files of 256 bytes) tracked as one
folder, ``models/`` with N files tracked one by one (N pointers, default 300),
one recorded run that depends on ``data`` and a model, all committed, the hooks
installed by ``git relstate init``. Every timed command runs with a small staged
change (a README line), so git has something to commit.

Measured (median of --repeat runs, each a fresh process):

- ``pre-commit hook``: the installed shim ``.git/hooks/pre-commit``, run the way
  git runs it (from the work-tree root). This is the target.
- ``git relstate hook pre-commit``: the same check without the shell shim.
- ``post-commit hook``: environment capture + git note.
- ``git commit``: with the hooks, and with ``RELSTATE_SKIP_HOOKS=1``.
- ``git push`` of one new commit to a bare repository (folder data remote):
  with the hooks (pre-push: find the pointers, ask the remote, push the notes),
  and without.
- DVC side by side (optional, when found, as in bench_foundation.py): DVC's own
  pre-commit hook, ``dvc git-hook pre-commit`` (it runs ``dvc status``), on the
  same data.

Stdlib only; helpers come from bench_foundation.py. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_foundation as bf  # noqa: E402  (reused: run_measured, Context, Measure, ...)
from bench_foundation import BenchError, Measure, RunResult, log  # noqa: E402

TARGET_S = 0.5
SUMMARIZE = (
    "import os; open('summary.txt', 'w').write(str(sum(len(f) for _, _, f in os.walk('data'))))"
)


def make_data(root: Path, ndirs: int, per_dir: int, models: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for d in range(ndirs):
        folder = root / "data" / f"d{d:03d}"
        folder.mkdir(parents=True)
        for i in range(per_dir):
            (folder / f"f{i:04d}.bin").write_bytes(rng.randbytes(256))
    (root / "models").mkdir()
    for m in range(models):
        (root / "models" / f"m-{m:03d}.bin").write_bytes(rng.randbytes(1024))


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        ns = argparse.Namespace(timeout=args.timeout, via_git=False, relstate_exe=None)
        self.ctx = bf.Context(ns, workdir, [])
        self.args = args
        self.workdir = workdir
        self.changes = 0

    def must(self, argv: Sequence[str], cwd: Path, what: str, **extra: str) -> RunResult:
        res = self.run(argv, cwd, **extra)
        if not res.ok:
            raise BenchError(f"{what} failed (exit {res.returncode}): {res.stderr.strip()}")
        return res

    def run(self, argv: Sequence[str], cwd: Path, **extra: str) -> RunResult:
        env = {**self.ctx.env, **extra}
        return bf.run_measured(argv, cwd, env, self.args.timeout)

    def staged_change(self, repo: Path) -> None:
        self.changes += 1
        (repo / "README").write_text(f"change {self.changes}\n")
        self.must(["git", "add", "README"], repo, "git add")

    def timed(
        self, repo: Path, argv: Sequence[str], *, before: Callable[[int], None] | None = None,
        **extra: str,
    ) -> Measure:  # fmt: skip
        measure = Measure()
        for i in range(self.args.repeat):
            if before is not None:
                before(i)
            measure.add(self.run(argv, repo, **extra))
        return measure


def setup_relstate(b: Bench, exe: str, src: Path) -> Path:
    repo = b.workdir / "relstate-repo"
    shutil.copytree(src, repo)
    b.must(["git", "init", "-q"], repo, "git init")
    b.must([exe, "init"], repo, "git relstate init")  # installs the hooks
    models = sorted(str(p.relative_to(repo)) for p in (repo / "models").iterdir())
    b.must([exe, "track", "data", *models], repo, "track")
    b.must(
        [exe, "run", "-n", "summarize", "-d", "data", "-d", models[0], "-o", "summary.txt",
         "--", sys.executable, "-c", SUMMARIZE],
        repo, "run",
    )  # fmt: skip
    storage = b.workdir / "storage"
    b.must([exe, "remote", "add", "storage", str(storage), "--default"], repo, "remote add")
    b.must(["git", "add", "-A"], repo, "git add")
    b.must(["git", "commit", "-q", "--no-verify", "-m", "setup"], repo, "git commit")
    b.must(["git", "init", "-q", "--bare", str(b.workdir / "origin.git")], repo, "git init")
    b.must(["git", "remote", "add", "origin", str(b.workdir / "origin.git")], repo, "remote")
    b.must(["git", "push", "-q", "origin", "main"], repo, "first push")  # uploads the data
    return repo


def setup_dvc(b: Bench, exe: str, src: Path) -> Path:
    repo = b.workdir / "dvc-repo"
    shutil.copytree(src, repo)
    b.must(["git", "init", "-q"], repo, "git init")
    b.must([exe, "init", "-q"], repo, "dvc init")
    models = sorted(str(p.relative_to(repo)) for p in (repo / "models").iterdir())
    b.must([exe, "add", "-q", "data", *models], repo, "dvc add")
    b.must(["git", "add", "-A"], repo, "git add")
    b.must(["git", "commit", "-q", "-m", "setup"], repo, "git commit")
    return repo


def fmt(m: Measure | None) -> str:
    if m is None:
        return "-"
    if m.failed:
        return f"error ({m.failed.returncode})"
    assert m.median is not None
    return f"{m.median:.3f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dirs", type=int, default=100, help="folders under data/ (x 200 files)")
    parser.add_argument("--pointers", type=int, default=300, help="files tracked one by one")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--relstate", help="path of git-relstate")
    parser.add_argument("--dvc", help="path of dvc (default: .bench-venv/bin/dvc, then PATH)")
    parser.add_argument("--no-dvc", action="store_true")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--json", type=Path, help="write every sample here")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    args = parser.parse_args(argv)

    exe = bf.find_relstate(args.relstate)
    if exe is None:
        log(bf.RELSTATE_INSTALL_HINT)
        return 2
    dvc = None if args.no_dvc else bf.find_dvc(args.dvc)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="relstate-bench-hooks-"))
    workdir.mkdir(parents=True, exist_ok=True)
    b = Bench(args, workdir)
    results: dict[str, dict[str, Measure]] = {}
    try:
        src = workdir / "src"
        if not src.exists():
            log(f"generating {args.dirs * 200:,} files in data/ and {args.pointers} in models/")
            make_data(src, args.dirs, 200, args.pointers)
        log("setting up the gitrelstate repository (track, run, commit, first push)")
        repo = setup_relstate(b, exe, src)
        shim = str(repo / ".git" / "hooks" / "pre-commit")
        b.staged_change(repo)
        b.must([shim], repo, "warm-up pre-commit")  # stat cache and folder digests are warm
        load = bf.load_average()
        ours: dict[str, Measure] = {}
        ours["pre-commit hook"] = b.timed(repo, [shim])
        ours["git relstate hook pre-commit"] = b.timed(repo, [exe, "hook", "pre-commit"])
        ours["post-commit hook"] = b.timed(repo, [str(repo / ".git" / "hooks" / "post-commit")])

        def change(i: int) -> None:
            b.staged_change(repo)

        ours["git commit (hooks)"] = b.timed(
            repo, ["git", "commit", "-q", "-m", "x"], before=change
        )
        ours["git commit (RELSTATE_SKIP_HOOKS=1)"] = b.timed(
            repo, ["git", "commit", "-q", "-m", "x"], before=change, RELSTATE_SKIP_HOOKS="1"
        )

        def new_commit(i: int) -> None:
            change(i)
            b.must(["git", "commit", "-q", "-m", "x"], repo, "git commit", RELSTATE_SKIP_HOOKS="1")

        ours["git push, 1 commit (hooks)"] = b.timed(
            repo, ["git", "push", "-q", "origin", "main"], before=new_commit
        )
        ours["git push, 1 commit (RELSTATE_SKIP_HOOKS=1)"] = b.timed(
            repo, ["git", "push", "-q", "origin", "main"], before=new_commit,
            RELSTATE_SKIP_HOOKS="1",
        )  # fmt: skip
        results["gitrelstate"] = ours
        if dvc is not None:
            log("setting up the DVC repository (dvc add, commit)")
            drepo = setup_dvc(b, dvc, src)
            b.staged_change(drepo)
            b.must([dvc, "git-hook", "pre-commit"], drepo, "warm-up dvc git-hook")
            results["dvc"] = {"pre-commit hook": b.timed(drepo, [dvc, "git-hook", "pre-commit"])}
        elif not args.no_dvc:
            log(bf.DVC_INSTALL_HINT)
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    finally:
        if not args.keep and args.workdir is None:
            bf.remove_tree(workdir)

    nfiles = args.dirs * 200
    print(
        f"\nHooks: {nfiles:,} files in one tracked folder + {args.pointers} pointers + 1 run, "
        f"nothing changed; {platform.python_implementation()} {platform.python_version()}, "
        f"{bf.git_version()}, load {load if load is None else round(load, 2)}"
    )
    dvc_pre = results.get("dvc", {}).get("pre-commit hook")
    width = max(len(k) for k in ours) + 2
    print(f"{'measurement':<{width}}{'gitrelstate':>14}{'DVC':>14}  target")
    verdict = "n/a"
    for name, m in ours.items():
        other = fmt(dvc_pre) if name == "pre-commit hook" else "-"
        target = ""
        if name == "pre-commit hook":
            ok = m.median is not None and m.median < TARGET_S
            verdict = "PASS" if ok else "FAIL"
            target = f"< {TARGET_S} s: {verdict}"
        print(f"{name:<{width}}{fmt(m):>14}{other:>14}  {target}")
        samples = [r.seconds for r in m.results]
        if samples and max(samples) > 1.5 * min(samples):
            print(f"{'':<{width}}  samples: {', '.join(f'{s:.3f}' for s in samples)}")
    if args.json:
        doc: dict[str, Any] = {
            tool: {name: m.to_json() for name, m in ms.items()} for tool, ms in results.items()
        }
        doc["setup"] = {"files": nfiles, "pointers": args.pointers, "repeat": args.repeat}
        args.json.write_text(json.dumps(doc, indent=2))
    failed = any(m.failed for ms in results.values() for m in ms.values())
    if failed:
        for ms in results.values():
            for name, m in ms.items():
                if m.failed:
                    log(f"{name}: {m.failed.stderr.strip()[-500:]}")
    return 1 if failed or (args.check and verdict == "FAIL") else 0


if __name__ == "__main__":
    sys.exit(main())
