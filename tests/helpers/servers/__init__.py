"""Real object stores on loopback for the test suite: SeaweedFS (S3) and gcp-storage-emulator
(GCS).

Both are started by the tests themselves (see SPEC.md, "Services used in tests"); nothing
outside 127.0.0.1 is contacted. ``process`` holds what both share, ``s3`` and ``gcs`` one
server each (``gcs_emulator`` is the emulator's patched child process), ``fixtures`` the
session fixtures that tests/conftest.py registers. In a test::

    def test_push(s3_server: S3Server) -> None:
        bucket = s3_server.make_bucket()            # fresh, created, unique
        fs = s3_server.fs()                         # s3fs.S3FileSystem talking to it
        url = f"s3://{bucket}/prefix"
        with s3_server.stopped():                   # SIGKILL now, restart (same ports/data) on exit
            ...
"""

from __future__ import annotations

from .gcs import GCSServer
from .process import ServerStartError, pick_ports, require_module
from .s3 import S3Server, find_weed

__all__ = [
    "GCSServer",
    "S3Server",
    "ServerStartError",
    "find_weed",
    "pick_ports",
    "require_module",
]
