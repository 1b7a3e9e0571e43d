"""Shared test helpers: the CLI runners, file trees, the training pipeline, the loopback
servers, the reliability invariants and worlds. Fixtures live in the conftest files."""

from __future__ import annotations

from pathlib import Path

#: The source checkout under test (README, hooks/, benchmarks/, ...).
CHECKOUT = Path(__file__).resolve().parents[2]
