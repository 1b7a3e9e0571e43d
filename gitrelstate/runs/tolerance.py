"""A stage's numeric tolerance: how far ``reproduce`` lets its JSON, YAML and CSV
outputs drift before they count as different (``run --tolerance REL[,ABS]``).

Recorded in the run record as ``tolerance: {rel: R, abs: A}`` (docs/spec.md), so a
stage whose results carry floating-point noise says so once, where it is defined,
and every reproduction of it uses that; ``reproduce --tolerance`` overrides it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gitrelstate import fsutil
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.state import yamlio
from gitrelstate.state.record import RunRecord

KEY = "tolerance"
HINT = (
    "give REL or REL,ABS: non-negative numbers, e.g. 1e-6 (relative) or 1e-6,1e-9 "
    "(relative, then absolute)"
)


@dataclass(frozen=True)
class Tolerance:
    """``|a - b| <= max(abs, rel * max(|a|, |b|))`` (as :func:`math.isclose`)."""

    rel: float
    abs: float = 0.0

    def allows(self, expected: float, actual: float) -> bool:
        return math.isclose(expected, actual, rel_tol=self.rel, abs_tol=self.abs)

    def to_dict(self) -> dict[str, float]:
        return {"rel": self.rel, "abs": self.abs}

    def __str__(self) -> str:
        return f"rel {self.rel:g}, abs {self.abs:g}"


def parse(text: str) -> Tolerance:
    """``REL`` or ``REL,ABS``."""
    parts = [p.strip() for p in text.split(",")]
    if not 1 <= len(parts) <= 2:
        raise RelstateError(f"invalid tolerance {text!r}", hint=HINT)
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise RelstateError(f"invalid tolerance {text!r}", hint=HINT) from None
    if not all(math.isfinite(n) and n >= 0 for n in numbers):
        raise RelstateError(f"invalid tolerance {text!r}", hint=HINT)
    return Tolerance(numbers[0], numbers[1] if len(numbers) > 1 else 0.0)


def of_record(record: RunRecord) -> Tolerance | None:
    """The tolerance a run record carries (None: byte for byte)."""
    doc = record.extra.get(KEY)
    if doc is None:
        return None
    where = f"{RUNS_DIR}/{record.name}.yaml"
    if not isinstance(doc, dict):
        raise RelstateError(f"{where}: 'tolerance' must be a mapping with 'rel' and 'abs'")
    values = [doc.get("rel", 0.0), doc.get("abs", 0.0)]
    if not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in values
    ):
        raise RelstateError(f"{where}: 'tolerance' values must be non-negative numbers")
    return Tolerance(float(values[0]), float(values[1]))


def record_tolerance(repo: Repo, name: str, tolerance: Tolerance | None) -> None:
    """Write ``tolerance`` into the record of run ``name`` (None removes it), keeping
    everything else as it is; atomic. Called by ``run`` right after the record is
    written, under the same lock."""
    from gitrelstate.guard import limits

    rel = f"{RUNS_DIR}/{name}.yaml"
    path = repo.resolve_inside(rel, rel, "run record", allow_state=True)
    doc: Any = yamlio.read(path, rel, cap=limits.RECORD)
    if not isinstance(doc, dict):
        raise RelstateError(f"{rel}: not a run record")
    if tolerance is None:
        if KEY not in doc:
            return
        doc.pop(KEY)
    else:
        doc[KEY] = tolerance.to_dict()
    fsutil.write_text_atomic(path, yamlio.dumps(doc))
