"""Comparing a recorded output with a reproduced one number by number, within a
tolerance: JSON, YAML and CSV (and TSV) files; anything else is compared byte for byte.

Both sides are parsed by the bounded readers every other file from others goes through
(guard.jsonload, state.yamlio; CSV streamed by the standard library within the same
size cap). Two files are within tolerance when they have the same structure (keys,
list lengths, CSV rows and columns), the same text where a value is not a number, and
every pair of numbers is within the tolerance; the largest deviation is reported either
way, the first value beyond it when there is one.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitrelstate.errors import RelstateError
from gitrelstate.guard import jsonload, limits
from gitrelstate.runs.tolerance import Tolerance
from gitrelstate.state import yamlio

# An output larger than this is compared byte for byte only: parsing it whole would
# cost seconds and memory a reproduction should not spend.
CAP = limits.Cap("an output compared numerically", 64 * limits.MiB)
SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".tsv")


def comparable(path: str) -> bool:
    """Whether ``path`` is compared numerically (by its extension)."""
    return path.lower().endswith(SUFFIXES)


@dataclass(frozen=True)
class Deviation:
    """One pair of numbers that differ: where, recorded, now."""

    where: str
    expected: float
    actual: float

    @property
    def absolute(self) -> float:
        return abs(self.actual - self.expected)

    @property
    def relative(self) -> float:
        scale = max(abs(self.expected), abs(self.actual))
        return self.absolute / scale if scale else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.where,
            "expected": self.expected,
            "actual": self.actual,
            "abs": self.absolute,
            "rel": self.relative,
        }


@dataclass(frozen=True)
class Comparison:
    """The verdict on one file: within tolerance or not, and the deviation to show."""

    within: bool
    largest: Deviation | None = None  # the largest of all compared numbers
    beyond: str | None = None  # why not within: the first value beyond, or the shape
    compared: int = 0  # numbers compared

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "within": self.within,
            "compared": self.compared,
            "largest": self.largest.to_dict() if self.largest else None,
        }
        if self.beyond is not None:
            out["beyond"] = self.beyond
        return out


class _Walk:
    """Collects deviations and the first difference beyond tolerance."""

    def __init__(self, tolerance: Tolerance) -> None:
        self.tolerance = tolerance
        self.largest: Deviation | None = None
        self.beyond: str | None = None
        self.compared = 0

    def numbers(self, where: str, expected: float, actual: float) -> None:
        self.compared += 1
        if expected == actual:
            return
        found = Deviation(where, expected, actual)
        if self.largest is None or found.absolute > self.largest.absolute:
            self.largest = found
        if self.beyond is None and not self.tolerance.allows(expected, actual):
            self.beyond = (
                f"at {where}: recorded {expected!r}, now {actual!r} (deviation "
                f"{found.absolute:.3g}, relative {found.relative:.3g}: beyond {self.tolerance})"
            )

    def differs(self, why: str) -> None:
        if self.beyond is None:
            self.beyond = why

    def result(self) -> Comparison:
        return Comparison(self.beyond is None, self.largest, self.beyond, self.compared)


def compare_values(expected: Any, actual: Any, tolerance: Tolerance) -> Comparison:
    """Two parsed documents, value by value."""
    walk = _Walk(tolerance)
    _values(walk, "", expected, actual)
    return walk.result()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _values(walk: _Walk, where: str, a: Any, b: Any) -> None:
    here = where or "(top)"
    if _is_number(a) and _is_number(b):
        walk.numbers(here, float(a), float(b))
    elif isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in a:
            if key not in b:
                walk.differs(f"key {_join(where, key)} is gone")
        for key in b:
            if key not in a:
                walk.differs(f"key {_join(where, key)} is new")
            else:
                _values(walk, _join(where, key), a[key], b[key])
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            walk.differs(f"at {here}: {len(a)} items recorded, {len(b)} now")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _values(walk, _join(where, str(i)), x, y)
    elif a != b or type(a) is not type(b):
        walk.differs(f"at {here}: recorded {_short(a)}, now {_short(b)}")


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def compare_bytes(expected: bytes, actual: bytes, path: str, tolerance: Tolerance) -> Comparison:
    """A recorded and a reproduced file ``path`` (JSON, YAML or CSV by its extension)."""
    if expected == actual:
        return Comparison(True)
    lower = path.lower()
    try:
        CAP.check(max(len(expected), len(actual)), path)
        if lower.endswith((".csv", ".tsv")):
            return _compare_csv(
                expected, actual, "\t" if lower.endswith(".tsv") else ",", tolerance
            )
        return compare_values(
            _parse(expected, path, "recorded"), _parse(actual, path, "now"), tolerance
        )
    except RelstateError as exc:
        return Comparison(False, beyond=f"not compared numerically: {exc.message}")


def _parse(raw: bytes, path: str, side: str) -> Any:
    label = f"{path} ({side})"
    if path.lower().endswith(".json"):
        return jsonload.loads(raw, label, cap=CAP)
    return yamlio.loads(raw, label, cap=CAP, text_keys=True)


def _rows(raw: bytes, delimiter: str) -> Iterator[list[str]]:
    try:
        text = io.StringIO(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RelstateError("not UTF-8 text") from None
    try:
        yield from csv.reader(text, delimiter=delimiter)
    except csv.Error as exc:
        raise RelstateError(f"not CSV ({exc})") from None


def _compare_csv(
    expected: bytes, actual: bytes, delimiter: str, tolerance: Tolerance
) -> Comparison:
    walk = _Walk(tolerance)
    old, new = _rows(expected, delimiter), _rows(actual, delimiter)
    line = 0
    while True:
        line += 1
        a, b = next(old, None), next(new, None)
        if a is None or b is None:
            if a is not None or b is not None:
                walk.differs(f"row {line}: the files have a different number of rows")
            break
        if len(a) != len(b):
            walk.differs(f"row {line}: {len(a)} columns recorded, {len(b)} now")
        for column, (x, y) in enumerate(zip(a, b, strict=False), start=1):
            if x == y:
                continue
            fx, fy = _float(x), _float(y)
            if fx is None or fy is None:
                walk.differs(f"row {line}, column {column}: recorded {x[:40]!r}, now {y[:40]!r}")
            else:
                walk.numbers(f"row {line}, column {column}", fx, fy)
    return walk.result()


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
