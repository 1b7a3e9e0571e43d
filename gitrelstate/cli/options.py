"""Option values more than one command parses the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitrelstate.errors import RelstateError

if TYPE_CHECKING:
    from gitrelstate.runs.tolerance import Tolerance


def tolerance(ctx: click.Context, param: click.Parameter, value: str | None) -> Tolerance | None:
    """``--tolerance REL[,ABS]`` (``run``, ``reproduce``); a bad value is a usage error."""
    if value is None:
        return None
    from gitrelstate.runs.tolerance import parse

    try:
        return parse(value)
    except RelstateError as exc:
        raise click.BadParameter(f"{exc.message}; {exc.hint}") from None
