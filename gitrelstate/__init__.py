"""gitrelstate: record what ran — model, data, pipeline and environment — in Git."""

from __future__ import annotations

__version__ = "0.1.0"
