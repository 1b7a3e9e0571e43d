"""The training pipeline of the end-to-end tests: scikit-learn on the iris data it ships.

``Pipeline`` writes one project into a repository and records its stages. The project:

- the iris rows in three CSV parts of 50 rows, tracked: ``data/raw/part-N.csv`` joined by a
  ``prepare`` stage into ``data/iris.csv`` (``prepared=True``), or ``data/part-N.csv`` read
  by the training stage directly (``prepared=False``);
- ``train.py``: a logistic regression on the rows of ``data/*.csv`` with ``C`` and
  ``max_iter`` from ``params.json`` (section ``train``); a seed from the environment picks
  the 100 training rows, so another seed gives another model; writes ``model.json`` and
  ``metrics.json`` (accuracy, intercept, rows read).

The tests differ only in the knobs of ``Pipeline``: where the data lies, the params file,
which params and variables the training stage records, and the seed's variable.

The whole pipeline (``write_stages`` + ``record_all``, for ``repro``, the run cache and
the stage graph) adds two stages after ``prepare``, beside ``train``:

- ``evaluate`` (after ``train``): scores ``model.json`` at ``evaluate.threshold`` and
  writes the folder ``eval/`` holding ``metrics.json`` (declared as metrics inside the
  output folder, the way dvclive writes) and ``roc.json``;
- ``stats`` (independent of ``train``): column means of ``data/iris.csv`` rounded to
  ``stats.digits``; ``stats.fail: true`` makes it exit 3.

Every script logs ``<stage> start|end <time>`` to the file ``$PIPELINE_LOG`` names (when
set) and first sleeps ``$PIPELINE_SLEEP`` seconds, so a test can see what ran, and
when; ``evaluate.py`` and ``stats.py`` import the shared module ``common.py``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cli import CLI, Result

PREPARE = """\
import glob
rows = []
for name in sorted(glob.glob("data/raw/*.csv")):
    rows += [line for line in open(name).read().splitlines() if line]
open("data/iris.csv", "w").write("\\n".join(rows) + "\\n")
"""

# Each script says when it ran (to $PIPELINE_LOG, outside the repository).
LOG_START = """\
import os as _os, time as _time
def _log(what):
    if _os.environ.get("PIPELINE_LOG"):
        with open(_os.environ["PIPELINE_LOG"], "a") as _f:
            _f.write(f"{STAGE} {what} {_time.time():.3f}\\n")
_log("start")
_time.sleep(float(_os.environ.get("PIPELINE_SLEEP", "0")))
"""

TRAIN = """\
import csv, glob, json, os, random
from sklearn.linear_model import LogisticRegression
rows = [r for name in sorted(glob.glob("data/*.csv")) for r in csv.reader(open(name)) if r]
params = json.load(open("params.json"))["train"]
# The seed picks the training rows: another seed, another model.
seed = int(os.environ.get(SEED_VARIABLE, "0"))
chosen = sorted(random.Random(seed).sample(range(len(rows)), 100))
X = [[float(v) for v in rows[i][:4]] for i in chosen]
y = [int(float(rows[i][4])) for i in chosen]
model = LogisticRegression(C=params["C"], max_iter=params["max_iter"]).fit(X, y)
json.dump({"coef": [[round(c, 6) for c in r] for r in model.coef_]}, open("model.json", "w"))
metrics = {
    "accuracy": round(model.score(X, y), 6),
    "intercept": round(model.intercept_[0], 6),
    "n": len(rows),
}
json.dump(metrics, open("metrics.json", "w"))
print(f"trained on {len(rows)} rows: accuracy {metrics['accuracy']}")
_log("end")
"""

COMMON = """\
import json, os, time


def params(section):
    return json.load(open("params.json"))[section]


def log(stage, what):
    if os.environ.get("PIPELINE_LOG"):
        with open(os.environ["PIPELINE_LOG"], "a") as f:
            f.write(f"{stage} {what} {time.time():.3f}\\n")
    if what == "start":
        time.sleep(float(os.environ.get("PIPELINE_SLEEP", "0")))
"""

EVALUATE = """\
import csv, json, math, os
from common import log, params
log("evaluate", "start")
threshold = params("evaluate")["threshold"]
coef = json.load(open("model.json"))["coef"]
rows = [r for r in csv.reader(open("data/iris.csv")) if r]
roc, hits = [], 0
for r in rows:
    x = [float(v) for v in r[:4]]
    score = 1 / (1 + math.exp(-sum(c * v for c, v in zip(coef[0], x))))
    hits += (score >= threshold) == (int(float(r[4])) == 0)
    roc.append({"score": round(score, 6), "label": int(float(r[4]))})
os.makedirs("eval", exist_ok=True)
json.dump({"accuracy": round(hits / len(rows), 6), "threshold": threshold},
          open("eval/metrics.json", "w"))
json.dump(roc[:20], open("eval/roc.json", "w"))
log("evaluate", "end")
"""

STATS = """\
import csv, json
from common import log, params
log("stats", "start")
p = params("stats")
if p.get("fail"):
    raise SystemExit(3)
rows = [[float(v) for v in r[:4]] for r in csv.reader(open("data/iris.csv")) if r]
means = [round(sum(r[i] for r in rows) / len(rows), p["digits"]) for i in range(4)]
json.dump({"rows": len(rows), "means": means}, open("stats.json", "w"))
print(f"means of {len(rows)} rows: {means}")
log("stats", "end")
"""

STAGE_PARAMS = {"evaluate": {"threshold": 0.5}, "stats": {"digits": 3}}


def iris_rows() -> list[str]:
    """The 150 rows of the iris data scikit-learn ships (``5.1,3.5,1.4,0.2,0``), no header."""
    spec = importlib.util.find_spec("sklearn")
    assert spec is not None and spec.origin is not None, "scikit-learn is not installed"
    text = (Path(spec.origin).parent / "datasets" / "data" / "iris.csv").read_text()
    return text.splitlines()[1:]


def _default_params() -> dict[str, Any]:
    return {"train": {"C": 1.0, "max_iter": 300}}


@dataclass(frozen=True)
class Pipeline:
    """One variant of the project: what ``write`` lays out and how stages are recorded."""

    prepared: bool = True  # raw parts + a prepare stage, or the parts read directly
    params: Mapping[str, Any] = field(default_factory=_default_params)  # params.json
    param_spec: str = "params.json:train"  # the training stage's -p
    variables: tuple[str, ...] = ()  # the training stage's -e
    seed_variable: str = "SEED"  # the environment variable train.py takes its seed from

    @property
    def data(self) -> str:
        """The training stage's data dependency."""
        return "data/iris.csv" if self.prepared else "data"

    @property
    def train_script(self) -> str:
        return f"SEED_VARIABLE = {self.seed_variable!r}\nSTAGE = 'train'\n{LOG_START}{TRAIN}"

    def write(self, cli: CLI, repo: Path) -> None:
        """Scripts, params and data into ``repo`` (nothing committed); the data tracked."""
        parts = repo / "data" / "raw" if self.prepared else repo / "data"
        parts.mkdir(parents=True)
        rows = iris_rows()
        for i in range(3):
            (parts / f"part-{i}.csv").write_text("\n".join(rows[i * 50 : (i + 1) * 50]) + "\n")
        if self.prepared:
            (repo / "prepare.py").write_text(
                f"STAGE = 'prepare'\n{LOG_START}{PREPARE}_log('end')\n"
            )
        (repo / "train.py").write_text(self.train_script)
        (repo / "params.json").write_text(json.dumps(self.params))
        cli(repo, "track", "data/raw" if self.prepared else "data")

    def prepare(self, cli: CLI, repo: Path) -> Result:
        """Record the prepare stage (raw parts -> data/iris.csv)."""
        deps = ("-d", "data/raw", "-d", "prepare.py")
        return cli(
            repo, "run", "-n", "prepare", *deps, "-o", "data/iris.csv", "--",
            sys.executable, "prepare.py",
        )  # fmt: skip

    def train_args(self, *extra: str) -> tuple[str, ...]:
        """``run`` arguments recording the training stage; ``extra`` options go before
        the command."""
        variables = [arg for name in self.variables for arg in ("-e", name)]
        return (
            "run", "-n", "train", "-d", self.data, "-d", "train.py", "-p", self.param_spec,
            "-o", "model.json", "-m", "metrics.json", *variables, *extra,
            "--", sys.executable, "train.py",
        )  # fmt: skip

    def train(self, cli: CLI, repo: Path, *extra: str, expect: int = 0) -> Result:
        """Record the training stage."""
        return cli(repo, *self.train_args(*extra), expect=expect)

    # -- the whole pipeline: prepare -> train -> evaluate, prepare -> stats -------------

    def write_stages(self, repo: Path) -> None:
        """``common.py``, ``evaluate.py``, ``stats.py``, and their params in params.json
        (after :meth:`write`; nothing committed)."""
        (repo / "common.py").write_text(COMMON)
        (repo / "evaluate.py").write_text(EVALUATE)
        (repo / "stats.py").write_text(STATS)
        params = json.loads((repo / "params.json").read_text())
        params.update(json.loads(json.dumps(STAGE_PARAMS)))
        (repo / "params.json").write_text(json.dumps(params, indent=1))

    def evaluate_args(self) -> tuple[str, ...]:
        return (
            "run", "-n", "evaluate", "-d", "model.json", "-d", self.data,
            "-p", "params.json:evaluate.threshold", "-o", "eval", "-m", "eval/metrics.json",
            "--", sys.executable, "evaluate.py",
        )  # fmt: skip

    def stats_args(self) -> tuple[str, ...]:
        return (
            "run", "-n", "stats", "-d", self.data, "-p", "params.json:stats",
            "-o", "stats.json", "--", sys.executable, "stats.py",
        )  # fmt: skip

    def record_all(self, cli: CLI, repo: Path) -> None:
        """Record every stage, upstream first (prepare only when ``prepared``)."""
        if self.prepared:
            self.prepare(cli, repo)
        self.train(cli, repo)
        cli(repo, *self.evaluate_args())
        cli(repo, *self.stats_args())

    def set_param(self, repo: Path, section: str, key: str, value: Any) -> None:
        """Change one key of params.json (the others stay as they are)."""
        params = json.loads((repo / "params.json").read_text())
        params.setdefault(section, {})[key] = value
        (repo / "params.json").write_text(json.dumps(params, indent=1))


def ran(log: Path) -> list[str]:
    """The stages that started, in order, from a ``$PIPELINE_LOG`` file (emptied)."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    log.write_text("")
    return [line.split()[0] for line in lines if line.split()[1] == "start"]


def intervals(log: Path) -> dict[str, tuple[float, float]]:
    """stage -> (start, end) times from a ``$PIPELINE_LOG`` file."""
    found: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        stage, what, at = line.split()
        found.setdefault(stage, [0.0, 0.0])[0 if what == "start" else 1] = float(at)
    return {k: (v[0], v[1]) for k, v in found.items()}
