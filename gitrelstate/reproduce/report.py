"""What a reproduction found, as a value: verdict, outputs, inputs, environment.

It prints itself as JSON (``reproduce --json``, shape in docs/reproduce.md) and as
text that puts the environment differences right next to the output differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitrelstate.reproduce.numeric import Comparison
from gitrelstate.runs.tolerance import Tolerance

IDENTICAL = "identical"
WITHIN_TOLERANCE = "within-tolerance"
DIFFERS = "differs"
FAILED = "failed"
EXIT_CODES = {IDENTICAL: 0, WITHIN_TOLERANCE: 0, DIFFERS: 1, FAILED: 2}


@dataclass
class OutputCheck:
    path: str
    stage: str
    expected: str
    actual: str | None
    files: dict[str, list[str]] | None = None  # a folder's added/removed/modified files
    # Under a tolerance (reproduce --tolerance, or the stage's own): the tolerance and,
    # per differing file, how it compares numerically (reproduce/numeric.py).
    tolerance: Tolerance | None = None
    tolerance_source: str | None = None  # "option" | "recorded"
    deviations: dict[str, Comparison] = field(default_factory=dict)

    @property
    def match(self) -> bool:
        """Byte for byte (the contract's ``match``)."""
        return self.actual == self.expected

    @property
    def within_tolerance(self) -> bool:
        """Not identical, yet every differing file is within the tolerance."""
        return (
            not self.match
            and self.actual is not None
            and bool(self.deviations)
            and all(c.within for c in self.deviations.values())
        )

    @property
    def accepted(self) -> bool:
        return self.match or self.within_tolerance

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
            "match": self.match,
            "stage": self.stage,
        }
        if self.files is not None:
            out["files"] = self.files
        if self.tolerance is not None:
            out["tolerance"] = {**self.tolerance.to_dict(), "source": self.tolerance_source}
            out["within_tolerance"] = self.within_tolerance
            out["deviations"] = [
                {"file": name, **c.to_dict()} for name, c in self.deviations.items()
            ]
        return out


@dataclass
class InputCheck:
    path: str
    stage: str
    layer: str  # code | params | data
    source: str  # git (the commit) | cache (restored by hash) | stage:NAME (made here)
    expected: str
    actual: str | None
    match: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "path": self.path,
            "stage": self.stage,
            "layer": self.layer,
            "source": self.source,
            "expected": self.expected,
            "actual": self.actual,
            "match": self.match,
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class StageResult:
    name: str
    command: list[str]
    exit_status: int | None = None
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": self.command,
            "exit_status": self.exit_status,
            "duration": round(self.duration, 3),
        }


@dataclass
class Failure:
    reason: str
    hint: str | None = None
    stage: str | None = None
    objects: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "hint": self.hint,
            "stage": self.stage,
            "objects": self.objects,
        }


@dataclass
class Report:
    ref: dict[str, Any]
    commit: str
    stages: list[str]  # what was to run, in order
    ran: list[StageResult] = field(default_factory=list)
    outputs: list[OutputCheck] = field(default_factory=list)
    inputs: list[InputCheck] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    environment: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, list[str]] = field(
        default_factory=lambda: {"restored": [], "missing": [], "mismatched": []}
    )
    warnings: list[str] = field(default_factory=list)
    # Per stage: who recorded it and on which host, against this user and host
    # (runs/provenance.py); said before anything ran.
    provenance: list[dict[str, Any]] = field(default_factory=list)
    failure: Failure | None = None
    stopped: str | None = None  # why nothing ran (--strict-env)
    worktree: str | None = None
    duration: float = 0.0

    @property
    def verdict(self) -> str:
        if self.failure is not None:
            return FAILED
        if self.stopped is not None or any(not o.accepted for o in self.outputs):
            return DIFFERS
        if any(not o.match for o in self.outputs):
            return WITHIN_TOLERANCE
        return IDENTICAL

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def environment_matches(self) -> bool:
        return not self.environment and not self.variables["missing"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "outputs": [o.to_dict() for o in self.outputs],
            "environment": {
                "matches": self.environment_matches,
                "differences": self.environment,
            },
            "ref": self.ref,
            "commit": self.commit,
            "stages": self.stages,
            "ran": [s.to_dict() for s in self.ran],
            "inputs": [i.to_dict() for i in self.inputs],
            "inputs_match": all(i.match for i in self.inputs),
            "params": self.params,
            "metrics": self.metrics,
            "variables": self.variables,
            "warnings": self.warnings,
            "provenance": self.provenance,
            "failure": self.failure.to_dict() if self.failure else None,
            "stopped": self.stopped,
            "worktree": self.worktree,
            "duration": round(self.duration, 3),
        }


def render_text(report: Report) -> str:
    """The verdict first, then what differs, layer by layer, in one place."""
    lines = [f"verdict: {report.verdict}{_verdict_detail(report)}"]
    if report.failure is not None:
        objects = [f"{o['path']}: {o['what']} {o['hash'][:23]}…" for o in report.failure.objects]
        lines.extend(f"  {line}" for line in objects[:20])
        if len(objects) > 20:
            lines.append(f"  ... and {len(objects) - 20} more")
        if report.failure.hint:
            lines.append(f"  hint: {report.failure.hint}")
    within = [o for o in report.outputs if o.within_tolerance]
    if within:
        lines.append("  outputs within tolerance (largest deviation per file):")
        for o in within:
            lines.append(f"    {o.path} ({o.tolerance_source} tolerance: {o.tolerance}):")
            lines.extend(f"      {line}" for line in _deviation_lines(o))
    differing = [o for o in report.outputs if not o.accepted]
    if differing:
        lines.append("  outputs differ: " + ", ".join(o.path for o in differing))
        for o in differing:
            actual = o.actual[:23] + "…" if o.actual else "(not produced)"
            lines.append(f"    {o.path}: recorded {o.expected[:23]}…, now {actual}")
            for kind, files in (o.files or {}).items():
                if files:
                    lines.append(f"      {kind}: {', '.join(files[:10])}")
            if o.tolerance is not None:
                lines.append(f"      beyond the {o.tolerance_source} tolerance ({o.tolerance}):")
                lines.extend(f"        {line}" for line in _deviation_lines(o))
        for m in report.metrics:
            delta = f" ({m['delta']:+g})" if isinstance(m.get("delta"), (int, float)) else ""
            lines.append(f"    {m['file']} {m['key']}: {m['old']} -> {m['new']}{delta}")
    elif report.outputs and report.failure is None and not within:
        lines.append(f"  outputs: {len(report.outputs)} byte-identical")
    if report.environment:
        shown = [d["text"] for d in report.environment]
        lines.append("  environment: " + "; ".join(shown[:8]) + _more(shown, 8))
    else:
        lines.append("  environment: as recorded")
    if report.variables["missing"]:
        lines.append(
            "  variables missing (redacted when recorded; set them in your environment): "
            + ", ".join(report.variables["missing"])
        )
    if report.variables["mismatched"]:
        lines.append(
            "  secret variables whose value differs from the recorded digest: "
            + ", ".join(report.variables["mismatched"])
        )
    changed_inputs = [i for i in report.inputs if not i.match]
    if changed_inputs:
        lines.append("  inputs not as recorded:")
        for i in changed_inputs:
            lines.append(f"    {i.layer} {i.path} ({i.stage}){': ' + i.note if i.note else ''}")
    restored = [p for p in report.params if p.get("restored")]
    for p in restored:
        keys = ", ".join(c["key"] for c in p["changed"])
        lines.append(f"  params restored in {p['file']}: {keys}")
    lines.extend(f"  warning: {w}" for w in report.warnings)
    if report.worktree:
        lines.append(
            f"  worktree kept: {report.worktree} "
            f"(remove it with: git worktree remove --force {report.worktree})"
        )
    return "\n".join(lines)


def _deviation_lines(check: OutputCheck) -> list[str]:
    """Per differing file: its largest deviation, and what is beyond the tolerance."""
    out = []
    for name, c in list(check.deviations.items())[:20]:
        d = c.largest
        largest = (
            f"largest deviation {d.absolute:.3g} (relative {d.relative:.3g}) at {d.where}: "
            f"recorded {d.expected!r}, now {d.actual!r}"
            if d is not None
            else "no number differs"
        )
        if c.beyond is None:
            out.append(f"{name}: {largest}")
        elif d is not None and c.beyond.startswith(f"at {d.where}:"):
            out.append(f"{name}: {c.beyond}")  # the largest is the first beyond
        else:
            out.append(f"{name}: {c.beyond}" + (f"; {largest}" if d is not None else ""))
    if len(check.deviations) > 20:
        out.append(f"... and {len(check.deviations) - 20} more files (--json lists them all)")
    return out


def _verdict_detail(report: Report) -> str:
    label = report.ref.get("label", report.ref.get("name", ""))
    where = f"{label} at {report.commit[:12]}"
    if report.failure is not None:
        return f" ({where}): {report.failure.reason}"
    if report.stopped is not None:
        return f" ({where}): {report.stopped}"
    names = ", ".join(s.name for s in report.ran)
    return f" ({where}; ran {names} in {report.duration:.1f}s)"


def _more(items: list[str], shown: int) -> str:
    return f"; ... and {len(items) - shown} more" if len(items) > shown else ""
