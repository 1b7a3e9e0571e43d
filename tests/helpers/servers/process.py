"""What both loopback servers share: free ports, child processes, log tails, plain HTTP."""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

LOG_TAIL_LINES = 60
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries the tail of its log."""


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
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


def pick_ports(n: int, grpc_offset: int | None = None) -> list[int]:
    """``n`` distinct free loopback ports; with ``grpc_offset``, port+offset is free too.

    Ports are drawn below the kernel's ephemeral range (usually 32768+), so outgoing client
    connections cannot grab them between a stop() and the restart, and below 55000 so a
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


def spawn(
    cmd: list[str], log_path: Path, cwd: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start a server process writing to ``log_path``, in its own session, dying with us."""
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


def terminate(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (at once when ``grace`` is 0)."""
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


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    timeout: float = 3.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request, bypassing any proxy; (status, body), HTTP errors included."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def unique_name(prefix: str, n: int) -> str:
    return f"{prefix}-{n:04d}-{uuid.uuid4().hex[:8]}"


def require_module(module: str, pip_name: str) -> Any:
    """Import ``module`` or fail the test with a ``pip install`` hint (never a silent skip)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(
            f"{module} is required for this test: pip install {pip_name} ({exc})", pytrace=False
        )
