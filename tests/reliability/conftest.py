"""Fixtures of the reliability suite."""

from __future__ import annotations

import pytest

from tests.helpers.worlds import Worlds


@pytest.fixture(scope="session")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Worlds:
    """The worlds, each built on first use (inside a test, so under conftest's isolation);
    one set per session, shared by the crash and the fault tests."""
    return Worlds(tmp_path_factory.mktemp("worlds"))
