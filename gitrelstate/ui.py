"""Console output: messages on stdout/stderr, verbosity, and progress bars on a TTY.

Every message passes through :func:`gitrelstate.guard.text.term` here, once, so no name
or value from a repository can drive the terminal, whichever command prints it; a
renderer that colours its output escapes its values itself and passes a ``Styled``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from gitrelstate.guard.text import Styled, term


@dataclass
class Settings:
    quiet: bool = False
    verbose: bool = False
    progress: bool = True


settings = Settings()


def shown(message: str) -> str:
    """``message`` as it may reach a terminal: escaped, unless a renderer already did
    that and added its own colours (a :class:`~gitrelstate.guard.text.Styled`)."""
    return message if isinstance(message, Styled) else term(message)


def echo(message: str = "", *, stream: TextIO | None = None) -> None:
    """Normal output (suppressed by -q)."""
    if not settings.quiet:
        print(shown(message), file=stream or sys.stdout)


def result(message: str) -> None:
    """Output that is the command's answer (never suppressed)."""
    print(shown(message), file=sys.stdout)


def warn(message: str) -> None:
    print(f"warning: {shown(message)}", file=sys.stderr)


def stderr(message: str) -> None:
    """A line on stderr that -q does not suppress (errors, hints, hook messages)."""
    print(shown(message), file=sys.stderr)


def debug(message: str) -> None:
    if settings.verbose:
        print(shown(message), file=sys.stderr)


def _progress_enabled() -> bool:
    return settings.progress and not settings.quiet and sys.stderr.isatty()


@contextmanager
def progress(total: int, desc: str, unit: str = "file") -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; a no-op otherwise."""
    if not _progress_enabled() or total <= 0:
        yield lambda n: None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield lambda n: None
        return
    bar = tqdm(total=total, desc=term(desc, one_line=True), unit=unit, file=sys.stderr, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()


@contextmanager
def transfer_progress(
    count: int, total_bytes: int, desc: str
) -> Iterator[Callable[[int, int], None]]:
    """Progress of a transfer on a terminal: bytes on the bar, objects beside it."""
    if not _progress_enabled() or count <= 0:
        yield lambda n, b: None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield lambda n, b: None
        return
    import threading

    lock = threading.Lock()
    done = [0]
    bar = tqdm(
        total=total_bytes or None,
        desc=term(desc, one_line=True),
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        leave=False,
        postfix=f"0/{count} objects",
    )

    def advance(n: int, nbytes: int) -> None:
        with lock:
            done[0] += n
            bar.set_postfix_str(f"{done[0]}/{count} objects", refresh=False)
            bar.update(nbytes)

    try:
        yield advance
    finally:
        bar.close()


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def bullets(items: list[str], at_most: int = 20) -> str:
    """An indented list for error messages, cut after ``at_most`` lines."""
    shown = "\n".join(f"  {item}" for item in items[:at_most])
    if len(items) > at_most:
        shown += f"\n  ... and {len(items) - at_most} more"
    return shown
