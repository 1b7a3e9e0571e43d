"""Frozen stages: never run; ``repro`` takes their outputs as they are."""

from __future__ import annotations

from dataclasses import replace

from gitrelstate import values
from gitrelstate.repo import Repo
from gitrelstate.runs import binding, executor
from gitrelstate.runs.spec import spec_from_record
from gitrelstate.state.record import RunRecord


def accept_outputs(repo: Repo, record: RunRecord) -> RunRecord:
    """Store the frozen stage's outputs as they are now and rewrite its record with
    them (its inputs are not looked at: a frozen stage is judged by its outputs)."""
    spec = spec_from_record(record)
    outs = binding.bind_outputs(repo, spec)
    metrics = {
        rel: values.flatten(
            values.load_structured(repo.resolve_inside(rel, f"run '{spec.name}'", "metrics"), rel)
        )
        for rel in spec.metrics
    }
    updated = replace(record, outs=tuple(outs), metrics=metrics)
    executor.write_record(repo, updated)
    return updated
