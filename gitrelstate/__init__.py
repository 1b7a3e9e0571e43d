"""gitrelstate: record what ran — model, data, pipeline and environment — in Git."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "capture_environment", "run"]


def __getattr__(name: str) -> Any:
    # Lazy: 'git relstate --version' must not pay for importing the API.
    if name == "run":
        from gitrelstate.api import run

        return run
    if name == "capture_environment":
        from gitrelstate.environment import capture_environment

        return capture_environment
    raise AttributeError(f"module 'gitrelstate' has no attribute {name!r}")
