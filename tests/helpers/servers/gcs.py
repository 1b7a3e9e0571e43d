"""gcp-storage-emulator on loopback: the GCS server of the test suite."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .process import (
    ServerStartError,
    http,
    log_tail,
    pick_ports,
    require_module,
    spawn,
    terminate,
    unique_name,
)

# gcsfs picks its GCSFileSystem class when it is first imported (gcsfs/__init__.py reads this
# variable at import time).  With the default ("true") it uses ExtendedGcsFileSystem, which
# probes every new bucket over gRPC and waits ~60 s against the emulator.  Setting it here,
# when conftest loads the server fixtures, is early enough as long as nothing imported gcsfs
# before.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

EMULATOR = Path(__file__).resolve().with_name("gcs_emulator.py")  # the child's script


class GCSServer:
    """``gcp-storage-emulator start --in-memory`` on loopback (data is lost on stop()).

    Attributes: ``endpoint_url``, ``port``, ``project``, ``log_path``, ``startup_seconds``,
    ``env`` (STORAGE_EMULATOR_HOST and GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false).
    """

    project = "relstate-test"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.log_path = self.root / "gcs-emulator.log"
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._counter = itertools.count()
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint_url,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        with self._lock:
            if self.is_running():
                return
            if importlib.util.find_spec("gcp_storage_emulator") is None:
                raise ServerStartError(
                    "gcp-storage-emulator missing: pip install gcp-storage-emulator"
                )
            first = self.port is None
            for attempt in range(3 if first else 1):
                if first:
                    self.port = pick_ports(1)[0]
                try:
                    self._start_once(timeout)
                    return
                except ServerStartError as exc:
                    terminate(self.proc, 0)
                    self.proc = None
                    busy = "address already in use" in str(exc).lower()
                    if not (first and busy and attempt < 2):
                        raise

    def stop(self, graceful: bool = False, grace: float = 2.0) -> None:
        with self._lock:
            terminate(self.proc, grace if graceful else 0)
            self.proc = None

    def close(self) -> None:
        self.stop(graceful=True, grace=2.0)

    def make_bucket(self, prefix: str = "t", name: str | None = None) -> str:
        """Create a fresh, uniquely named bucket (``<prefix>-NNNN-<hex>``, or exactly ``name``);
        returns its name (no ``gs://``)."""
        name = name or unique_name(prefix, next(self._counter))
        status, body = http(
            "POST",
            f"{self.endpoint_url}/storage/v1/b?project={self.project}",
            body=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if status != 200:
            raise RuntimeError(f"create bucket {name}: HTTP {status}: {body[:300]!r}")
        return name

    def storage_options(self) -> dict[str, Any]:
        """fsspec/gcsfs keyword arguments for this server."""
        return {"token": "anon", "endpoint_url": self.endpoint_url, "project": self.project}

    def fs(self, **kwargs: Any) -> Any:
        """A new (uncached) ``gcsfs.GCSFileSystem`` for this server."""
        gcsfs = require_module("gcsfs", "gcsfs")
        check_gcsfs_class(gcsfs)
        return gcsfs.GCSFileSystem(skip_instance_cache=True, **{**self.storage_options(), **kwargs})

    def _start_once(self, timeout: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            str(EMULATOR),
            "start",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--in-memory",
        ]
        t0 = time.monotonic()
        self.proc = spawn(cmd, self.log_path, cwd=self.root, env=dict(os.environ))
        deadline = t0 + timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"gcp-storage-emulator exited with code {self.proc.returncode} "
                    f"(log {self.log_path}):\n{log_tail(self.log_path)}"
                )
            try:
                status, _ = http("GET", f"{self.endpoint_url}/", timeout=2)
                if status == 200:
                    self.startup_seconds = time.monotonic() - t0
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.05)
        raise ServerStartError(
            f"gcp-storage-emulator at {self.endpoint_url} not answering (last: {last}); "
            f"log {self.log_path}:\n{log_tail(self.log_path)}"
        )


def check_gcsfs_class(gcsfs: Any) -> None:
    """Fail the test if gcsfs was imported before GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT was set."""
    if gcsfs.GCSFileSystem.__name__ == "ExtendedGcsFileSystem":
        pytest.fail(
            "gcsfs was imported with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT unset/true, so it uses "
            "ExtendedGcsFileSystem (each new bucket waits ~60 s on a gRPC probe). Set "
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false before gcsfs is first imported "
            "(tests/conftest.py loads tests/helpers/servers/gcs.py, which does that).",
            pytrace=False,
        )
