"""Fault injection at named write steps, for the reliability tests.

Every step that writes something durable (an object, a pack, a pointer, a record,
a work-tree file, a remote object) calls :func:`checkpoint` with a stable name.
Three environment variables, read once when this module is imported, arm them:

``RELSTATE_CRASH_AT=NAME[:N]``
    SIGKILL this process the N-th time (default: the first) checkpoint NAME is
    reached; NAME ``*`` counts every checkpoint, so ``*:7`` crashes at the 7th
    write step whatever it is.
``RELSTATE_FAIL_AT=NAME[:N][:ERRNO]``
    Raise ``OSError(ERRNO)`` (default ``ENOSPC``) at the N-th and every later
    hit (a full disk stays full), instead of crashing.
``RELSTATE_CRASH_TRACE=FILE``
    Append the name of every checkpoint reached to FILE, one per line (how a
    test learns how many write steps a command has).

With none of them set (always, outside the tests) a checkpoint costs one global
lookup and a test.
"""

from __future__ import annotations

import errno
import os
import signal
import threading

CRASH_AT = "RELSTATE_CRASH_AT"
FAIL_AT = "RELSTATE_FAIL_AT"
TRACE = "RELSTATE_CRASH_TRACE"

_armed = False
_crash: tuple[str, int] | None = None
_fail: tuple[str, int, int] | None = None
_trace: str | None = None
_counts: dict[str, int] = {}
_lock = threading.Lock()


def _target(spec: str) -> tuple[str, int, str]:
    name, _, rest = spec.partition(":")
    count, _, extra = rest.partition(":")
    return name, int(count) if count else 1, extra


def reload() -> None:
    """Read the environment again (tests that run the CLI in-process call this)."""
    global _armed, _crash, _fail, _trace
    _counts.clear()
    crash = os.environ.get(CRASH_AT)
    fail = os.environ.get(FAIL_AT)
    _trace = os.environ.get(TRACE) or None
    _crash = _fail = None
    if crash:
        name, count, _ = _target(crash)
        _crash = (name, count)
    if fail:
        name, count, code = _target(fail)
        _fail = (name, count, getattr(errno, code or "ENOSPC", errno.ENOSPC))
    _armed = bool(_crash or _fail or _trace)


def checkpoint(name: str) -> None:
    """A write step named ``name``: crash or fail here when the environment says so."""
    if _armed:
        _hit(name)


def _reached(target: tuple[str, int], name: str, n: int, total: int) -> int:
    """How far past the target hit this one is (0: exactly it; < 0: not yet or elsewhere)."""
    if target[0] == "*":
        return total - target[1]
    return n - target[1] if target[0] == name else -1


def _hit(name: str) -> None:
    with _lock:
        n = _counts[name] = _counts.get(name, 0) + 1
        total = _counts["*"] = _counts.get("*", 0) + 1
        if _trace is not None:
            with open(_trace, "a", encoding="utf-8") as f:
                f.write(name + "\n")
    if _crash is not None and _reached(_crash, name, n, total) == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    if _fail is not None and _reached(_fail[:2], name, n, total) >= 0:
        code = _fail[2]
        raise OSError(code, f"{os.strerror(code)} (injected at {name})")


reload()
