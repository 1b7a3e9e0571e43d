"""The command line: click decorators only; every command delegates to ``commands/``."""

from __future__ import annotations

from gitrelstate.cli.main import main

__all__ = ["main"]
