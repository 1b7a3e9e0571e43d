"""reproduce --tolerance (issue #16 item 3): JSON, YAML and CSV outputs compared number by
number within REL[,ABS], other files byte for byte; verdicts identical /
within-tolerance (exit 0, the largest deviation per file) / differs (exit 1); the default
stays byte-exact; a stage records its own tolerance (``run --tolerance``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gitrelstate.reproduce.numeric import compare_bytes
from gitrelstate.runs.tolerance import Tolerance
from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, commit_all

# A "training" step whose results carry floating-point noise from an unseeded source: a
# sum taken in a random order, plus jitter of NOISE (default 1e-9) relative.
NOISY = """\
import csv, json, os, random
rng = random.SystemRandom()
scale = float(os.environ.get("NOISE", "1e-9"))
def jitter(x):
    return x * (1 + scale * (0.5 + rng.random()))
values = [0.1 * i for i in range(1, 200)]
rng.shuffle(values)
total = sum(values)  # another order, another rounding
os.makedirs("out", exist_ok=True)
json.dump({"loss": jitter(0.25), "weights": [jitter(1.5), jitter(-2.0)], "total": total,
           "name": "model-a", "epochs": 3}, open("out/weights.json", "w"))
open("out/summary.yaml", "w").write(f"rmse: {jitter(0.125)!r}\\nlabel: ok\\n")
open("out/blob.bin", "wb").write(bytes(range(256)))
with open("table.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "score", "label"])
    for i in range(1, 6):
        w.writerow([i, jitter(i / 7), "ab"[i % 2]])
json.dump({"accuracy": jitter(0.9), "n": 150}, open("metrics.json", "w"))
"""

STAGE = ("-d", "noisy.py", "-o", "out", "-o", "table.csv", "-m", "metrics.json")


def _record(run: Runner, repo: Path, *extra: str) -> None:
    (repo / "noisy.py").write_text(NOISY)
    commit_all(repo, "noisy stage")
    run(repo, "run", "-n", "noisy", *STAGE, *extra, "--", sys.executable, "noisy.py")
    commit_all(repo, "run noisy")


def _reproduce(run: Runner, repo: Path, *args: str, expect: int) -> dict[str, Any]:
    result = run(repo, "reproduce", "noisy", "--json", *args, expect=expect)
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def _outputs(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["path"]: o for o in report["outputs"]}


def test_noise_within_tolerance_is_accepted_with_its_largest_deviation(
    repo: Path, run: Runner
) -> None:
    _record(run, repo)
    report = _reproduce(run, repo, "--tolerance", "1e-6", expect=0)
    assert report["verdict"] == "within-tolerance"
    outputs = _outputs(report)
    for path in ("out", "table.csv", "metrics.json"):
        check = outputs[path]
        assert check["match"] is False and check["within_tolerance"] is True, check
        assert check["tolerance"] == {"rel": 1e-6, "abs": 0.0, "source": "option"}
    deviations = {d["file"]: d for d in outputs["out"]["deviations"]}
    # Inside the folder only the files that differ, each with its largest deviation.
    assert set(deviations) == {"out/weights.json", "out/summary.yaml"}
    largest = deviations["out/weights.json"]["largest"]
    assert largest["at"] in ("loss", "weights.0", "weights.1", "total")
    assert 0 < largest["rel"] < 1e-6 and largest["abs"] > 0
    assert deviations["out/summary.yaml"]["largest"]["at"] == "rmse"
    [table] = outputs["table.csv"]["deviations"]
    assert table["largest"]["at"].startswith("row ") and ", column 2" in table["largest"]["at"]
    assert table["within"] and table["compared"] >= 1
    text = run(repo, "reproduce", "noisy", "--tolerance", "1e-6", expect=0).out
    assert text.startswith("verdict: within-tolerance")
    assert "outputs within tolerance (largest deviation per file):" in text
    assert "out/weights.json: largest deviation" in text
    assert "table.csv: largest deviation" in text


def test_byte_exact_by_default_and_beyond_the_tolerance_differs(
    repo: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(run, repo)
    exact = _reproduce(run, repo, expect=1)
    assert exact["verdict"] == "differs"
    assert all("tolerance" not in o for o in exact["outputs"])
    monkeypatch.setenv("NOISE", "1e-3")
    beyond = _reproduce(run, repo, "--tolerance", "1e-6", expect=1)
    assert beyond["verdict"] == "differs"
    out = {d["file"]: d for d in _outputs(beyond)["out"]["deviations"]}
    assert out["out/weights.json"]["within"] is False
    assert "beyond rel 1e-06, abs 0" in out["out/weights.json"]["beyond"]
    text = run(repo, "reproduce", "noisy", "--tolerance", "1e-6", expect=1).out
    assert text.startswith("verdict: differs")
    assert "beyond the option tolerance (rel 1e-06, abs 0):" in text
    # A looser tolerance takes the same noise.
    assert _reproduce(run, repo, "--tolerance", "1e-2", expect=0)["verdict"] == "within-tolerance"


def test_a_stage_records_its_own_tolerance(repo: Path, run: Runner) -> None:
    _record(run, repo, "--tolerance", "1e-6,1e-12")
    record = yamlio.read(repo / ".relstate" / "runs" / "noisy.yaml")
    assert record["tolerance"] == {"rel": 1e-6, "abs": 1e-12}
    report = _reproduce(run, repo, expect=0)
    assert report["verdict"] == "within-tolerance"
    assert _outputs(report)["table.csv"]["tolerance"]["source"] == "recorded"
    # The option overrides what the stage recorded.
    assert _reproduce(run, repo, "--tolerance", "0", expect=1)["verdict"] == "differs"
    # Re-running the stage keeps its tolerance; a release embeds it.
    run(repo, "run", "noisy")
    assert yamlio.read(repo / ".relstate" / "runs" / "noisy.yaml")["tolerance"]["rel"] == 1e-6
    commit_all(repo, "again")
    run(repo, "release", "r1")
    commit_all(repo, "release")
    released = run(repo, "reproduce", "r1", "--json", expect=0)
    assert json.loads(released.out)["verdict"] == "within-tolerance"


def test_invalid_tolerances_are_usage_errors(repo: Path, run: Runner) -> None:
    for bad in ("x", "-1", "1,2,3", "nan", "inf"):
        res = run(repo, "reproduce", "HEAD", "--tolerance", bad, expect=2)
        assert "invalid tolerance" in res.err and "REL,ABS" in res.err
    res = run(repo, "run", "-n", "s", "--tolerance", "-1", "--", "true", expect=2)
    assert "invalid tolerance" in res.err


@pytest.mark.parametrize(
    ("name", "old", "new", "within", "why"),
    [
        ("a.json", b'{"x": 1.0}', b'{"x": 1.0000001}', True, None),
        ("a.json", b'{"x": 1.0}', b'{"x": 1.0, "y": 2}', False, "key y is new"),
        ("a.json", b'{"x": [1, 2]}', b'{"x": [1]}', False, "at x: 2 items recorded, 1 now"),
        ("a.json", b'{"x": "a"}', b'{"x": "b"}', False, "at x: recorded 'a', now 'b'"),
        ("a.json", b'{"x": true}', b'{"x": 1}', False, "at x: recorded True, now 1"),
        ("a.yaml", b"x: 1.0\n", b"x: 1.00000001\n", True, None),
        ("a.csv", b"a,b\n1,2\n", b"a,b\n1,2\n3,4\n", False, "different number of rows"),
        ("a.csv", b"a,b\n1,2\n", b"a,c\n1,2\n", False, "row 1, column 2: recorded 'b'"),
        ("a.tsv", b"1\t2.0\n", b"1\t2.0000001\n", True, None),
        ("a.json", b'{"x": 1}', b"{not json", False, "not compared numerically"),
        ("a.json", b'{"x": 0.0}', b'{"x": 1e-13}', False, "beyond rel 1e-06, abs 0"),
    ],
)
def test_numeric_comparison(
    name: str, old: bytes, new: bytes, within: bool, why: str | None
) -> None:
    result = compare_bytes(old, new, name, Tolerance(1e-6))
    assert result.within is within
    if why is not None:
        assert result.beyond is not None and why in result.beyond


def test_absolute_tolerance_covers_values_near_zero() -> None:
    result = compare_bytes(b'{"x": 0.0}', b'{"x": 1e-13}', "a.json", Tolerance(1e-6, 1e-12))
    assert result.within and result.largest is not None and result.largest.absolute == 1e-13
