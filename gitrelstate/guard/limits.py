"""How large and how deep a parsed file may be (docs/spec.md, "Limits").

Every file gitrelstate parses arrives through Git, a remote or a pull request, so each
kind has a size cap checked *before* parsing, and every parser shares the same
structural limits: nesting depth, integer range, finite numbers. The caps are set so
that the largest file accepted parses in well under a second on a small machine
(measured figures in docs/reliability.md); anything larger is refused with a message
naming the file and the cap, never parsed slowly.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitrelstate.errors import StateFileError

KiB = 1024
MiB = 1024 * KiB

# Nesting of mappings and sequences; gitrelstate's own files use at most 6 levels.
MAX_DEPTH = 64
# Integers are 64-bit signed, as in JSON's interoperable subset and SQLite: a size,
# a count or a seed fits; a 5000-digit number is an attack, not a value.
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
# Digits looked at before converting (underscores and a sign aside): more cannot be
# in range, and Python's int() is quadratic in the digit count.
MAX_INT_DIGITS = 64
# Mapping keys: names of things (packages, variables, params), never prose.
MAX_KEY_CHARS = 256
# Values (scalars, mappings, sequences) in one YAML file. Reading and writing one
# costs a few microseconds whatever its size, so a byte cap alone would let a file of
# one-character numbers take seconds. A run record listing 2,000 packages has ~5,000;
# one listing 60,000 has 120,000.
MAX_NODES = 200_000


@dataclass(frozen=True)
class Cap:
    """The most bytes one kind of file may have."""

    what: str  # "a run record": used in messages
    max_bytes: int

    def check(self, size: int, source: str) -> None:
        """Refuse ``size`` bytes when over the cap (before anything is parsed)."""
        if size > self.max_bytes:
            raise StateFileError(
                f"{source}: {_human(size)} is more than {self.what} may hold "
                f"({_human(self.max_bytes)})",
                hint=f"gitrelstate refuses larger files unread (docs/spec.md, Limits); {self.hint}",
            )

    @property
    def hint(self) -> str:
        return _HINTS.get(self.what, "this is not a file gitrelstate wrote")


def _human(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    if size >= KiB:
        return f"{size / KiB:.1f} KiB"
    return f"{size} bytes"


POINTER = Cap("a data pointer", 64 * KiB)
CONFIG = Cap("a config file", 1 * MiB)
RECORD = Cap("a run record", 8 * MiB)
RELEASE = Cap("a release file", 16 * MiB)
NOTE = Cap("an environment note", 16 * MiB)
PARAMS = Cap("a params or metrics file", 8 * MiB)
# Alias name -> release name, state_id and time: ~200 bytes an alias.
ALIASES = Cap("an aliases file", 1 * MiB)
# Any state file whose kind is not known yet (the textconv driver, a staged file).
STATE_FILE = Cap("a state file", RELEASE.max_bytes)

_HINTS = {
    "a run record": "a record holds params and metrics by value and the package list: "
    "keep params/metrics files small",
    "a release file": "a release embeds its run records: bind fewer runs",
    "an aliases file": "an alias names one release: keep a few hundred at most",
    "a params or metrics file": "params and metrics are recorded by value: keep these "
    "files small (put large results in outputs, -o)",
}


def read_capped(path: Path, cap: Cap, source: str) -> bytes:
    """The bytes of the regular file ``path``, refused unread when larger than ``cap``.

    A device, a FIFO or a symlink to one (``/dev/zero``, ``/dev/tty``) is refused before
    the first byte: opened without blocking, checked with ``fstat``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise StateFileError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise StateFileError(f"{source}: is a directory, not a file") from None
    except OSError as exc:
        raise StateFileError(f"{source}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise StateFileError(f"{source}: is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise StateFileError(f"{source}: not a regular file")
        cap.check(info.st_size, source)
        raw = f.read(cap.max_bytes + 1)
    cap.check(len(raw), source)
    return raw
