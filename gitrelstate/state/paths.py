"""Validation of the relative paths stored in pointers and manifests.

A stored path is a promise about where data lands on checkout, so it must never
point outside the repository, whatever the file says. The rules live in
:mod:`gitrelstate.guard.paths` with the containment check that uses them.
"""

from __future__ import annotations

from gitrelstate.guard.paths import (
    MAX_COMPONENT_BYTES,
    MAX_PATH_BYTES,
    RESERVED_PREFIX,
    check_relpath,
)

__all__ = ["MAX_COMPONENT_BYTES", "MAX_PATH_BYTES", "RESERVED_PREFIX", "check_relpath"]
