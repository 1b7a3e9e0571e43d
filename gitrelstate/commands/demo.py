"""``git relstate demo``: a guided run of the main workflow in a throw-away repository.

It builds an example repo with data, tracks it, pushes it to a local-folder
remote, clones the repo elsewhere and pulls the data back, printing each real
command and its output, so a new user sees the whole cycle in a few seconds.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gitrelstate import ui
from gitrelstate.errors import RelstateError


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="gitrelstate demo",
        GIT_AUTHOR_EMAIL="demo@example.invalid",
        GIT_COMMITTER_NAME="gitrelstate demo",
        GIT_COMMITTER_EMAIL="demo@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def _run(cwd: Path, *argv: str, expect: int = 0) -> str:
    shown = " ".join(shlex.quote(a) for a in argv)
    ui.result(f"\n$ {shown}")
    if argv[0] == "git" and len(argv) > 1 and argv[1] == "relstate":
        cmd = [sys.executable, "-m", "gitrelstate", "--no-progress", *argv[2:]]
    else:
        cmd = list(argv)
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        ui.result(out)
    if proc.returncode != expect:
        raise RelstateError(f"demo step failed: {shown} (exit {proc.returncode})")
    return proc.stdout


def _make_data(root: Path) -> None:
    rng = random.Random(42)
    data = root / "data"
    for split in ("train", "test"):
        (data / split).mkdir(parents=True)
        for i in range(20):
            rows = "\n".join(f"{rng.random():.6f},{rng.randint(0, 1)}" for _ in range(200))
            (data / split / f"part-{i:03d}.csv").write_text("x,y\n" + rows + "\n")
    (root / "model.bin").write_bytes(rng.randbytes(256 * 1024))


def demo(keep: Path | None) -> int:
    base = keep.resolve() if keep else Path(tempfile.mkdtemp(prefix="relstate-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    project, storage, clone = base / "project", base / "storage", base / "clone"
    for p in (project, clone):
        if p.exists():
            raise RelstateError(f"{p} already exists", hint="pass an empty folder to --keep")
    project.mkdir()
    ui.result(f"Building a demo repository in {base}")
    try:
        _run(project, "git", "init", "-q", "-b", "main")
        _run(project, "git", "relstate", "init")
        _make_data(project)
        ui.result("\n(made data/ with 40 CSV files and a 256 KiB model.bin)")
        _run(project, "git", "relstate", "track", "data", "model.bin")
        _run(project, "git", "relstate", "remote", "add", "origin", str(storage), "--default")
        _run(project, "git", "add", "-A")
        _run(project, "git", "commit", "-q", "-m", "Track data and model with gitrelstate")
        _run(project, "git", "relstate", "push")
        _run(project, "cat", "data.relstate.yaml")
        (project / "data" / "train" / "part-000.csv").write_text("x,y\n0.5,1\n")
        ui.result("\n(edited data/train/part-000.csv)")
        _run(project, "git", "relstate", "status")
        ui.result("\n(checkout refuses to lose an edit that is not saved in the cache...)")
        _run(project, "git", "relstate", "checkout", "data", expect=1)
        ui.result("\n(...unless told to discard it)")
        _run(project, "git", "relstate", "checkout", "--force", "data")
        _run(project, "git", "relstate", "status")
        summarize = (
            "import glob; rows = sum(len(open(f).readlines()) - 1 "
            "for f in glob.glob('data/*/*.csv')); open('summary.txt', 'w').write(f'{rows}\\n')"
        )
        ui.result("\n(a pipeline stage: every input, output and the environment get recorded)")
        _run(
            project,
            "git",
            "relstate",
            "run",
            "-n",
            "summarize",
            "-d",
            "data",
            "-o",
            "summary.txt",
            "--",
            sys.executable,
            "-c",
            summarize,
        )
        _run(project, "git", "relstate", "trace", "summary.txt")
        _run(project, "git", "add", "-A")
        _run(project, "git", "commit", "-q", "-m", "Record the summarize stage")
        ui.result("\n(fix this state as a release: immutable, with a digest of its content)")
        _run(project, "git", "relstate", "release", "v1", "-m", "first release")
        _run(project, "git", "add", "-A")
        _run(project, "git", "commit", "-q", "-m", "Release v1")
        (project / "data" / "test" / "part-007.csv").write_text("x,y\n0.25,0\n")
        ui.result("\n(new test data; re-run the stage, release again, and compare)")
        _run(project, "git", "relstate", "run", "summarize")
        _run(project, "git", "add", "-A")
        _run(project, "git", "commit", "-q", "-m", "New test data")
        _run(project, "git", "relstate", "release", "v2")
        _run(
            project, "git", "relstate", "diff", "v1", "v2", "--layer", "data", "--layer", "pipeline"
        )
        _run(project, "git", "add", "-A")
        _run(project, "git", "commit", "-q", "-m", "Release v2")
        _run(project, "git", "relstate", "push")
        _run(base, "git", "clone", "-q", str(project), str(clone))
        _run(clone, "git", "relstate", "pull")
        _run(clone, "git", "relstate", "status")
        ui.result("\nThe clone has byte-identical data, fetched from the local remote and")
        ui.result("verified by hash. Nothing but small pointer files went into Git.")
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            ui.result(f"\nKept the demo in {base}")
    return 0
