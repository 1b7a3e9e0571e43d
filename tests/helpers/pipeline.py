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
"""


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
        return f"SEED_VARIABLE = {self.seed_variable!r}\n{TRAIN}"

    def write(self, cli: CLI, repo: Path) -> None:
        """Scripts, params and data into ``repo`` (nothing committed); the data tracked."""
        parts = repo / "data" / "raw" if self.prepared else repo / "data"
        parts.mkdir(parents=True)
        rows = iris_rows()
        for i in range(3):
            (parts / f"part-{i}.csv").write_text("\n".join(rows[i * 50 : (i + 1) * 50]) + "\n")
        if self.prepared:
            (repo / "prepare.py").write_text(PREPARE)
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
