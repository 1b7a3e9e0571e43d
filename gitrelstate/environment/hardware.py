"""CPU, memory and NVIDIA GPUs, read from the OS and ``nvidia-smi`` (never from torch & co).

Importing a deep-learning framework to ask for the GPU would cost seconds and
initialise a CUDA context; ``nvidia-smi`` answers in well under a second.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

GPU_QUERY = ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]
# nvidia-smi can hang on a wedged driver; a run must not wait for it.
GPU_TIMEOUT = 5.0
MIB = 1024 * 1024

# "model name" on x86, "Model"/"Hardware" on ARM boards, "cpu model" on MIPS, "cpu" on POWER.
_CPUINFO_KEYS = ("model name", "model", "hardware", "cpu model", "cpu")
_CUDA_VERSION = re.compile(r"CUDA Version\s*:\s*([0-9][0-9.]*)")


def capture_hardware(*, gpu_timeout: float = GPU_TIMEOUT) -> dict[str, Any]:
    return {
        "cpu": {"model": cpu_model(), "count": os.cpu_count(), "available": _available_cpus()},
        "memory_bytes": memory_bytes(),
        "gpus": capture_gpus(timeout=gpu_timeout),
    }


def _available_cpus() -> int | None:
    # What this process may run on (taskset, Slurm, containers), which is what
    # thread pools size themselves by; os.cpu_count() is the whole machine.
    if hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0))
        except OSError:
            pass
    return os.cpu_count()


def cpu_model() -> str | None:
    if sys.platform.startswith("linux"):
        model = parse_cpuinfo_model(_read_text("/proc/cpuinfo"))
        if model:
            return model
    elif sys.platform == "darwin":
        model = _run(["sysctl", "-n", "machdep.cpu.brand_string"], 2.0)
        if model and model.strip():
            return model.strip()
    import platform

    return platform.processor() or None


def parse_cpuinfo_model(text: str | None) -> str | None:
    """The processor's model name in /proc/cpuinfo text."""
    if not text:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        # x86 says "model name" in every processor's block; stop at the first.
        if key == "model name" and value:
            return value
        # Elsewhere the name sits in a trailing block; "model" on x86 is a number.
        if sep and value and not value.isdigit():
            fields.setdefault(key, value)
    for key in _CPUINFO_KEYS:
        if key in fields:
            return fields[key]
    return None


def memory_bytes() -> int | None:
    text = _read_text("/proc/meminfo") if sys.platform.startswith("linux") else None
    if text:
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    unit = parts[2].lower() if len(parts) > 2 else "kb"
                    return int(parts[1]) * (1024 if unit == "kb" else 1)
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def capture_gpus(*, timeout: float = GPU_TIMEOUT) -> list[dict[str, Any]]:
    """NVIDIA GPUs via nvidia-smi; [] without one, or when it fails or hangs."""
    import subprocess

    from gitrelstate.guard.executables import which

    exe = which("nvidia-smi")
    if exe is None:
        return []
    # Both queries at once: the slow part of nvidia-smi is waking the driver.
    try:
        query = subprocess.Popen(
            [exe, *GPU_QUERY], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        header = subprocess.Popen(
            [exe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
    except OSError:
        return []
    deadline = time.monotonic() + timeout
    try:
        query_out = _finish(query, deadline)
        header_out = _finish(header, deadline)
    finally:
        for proc in (query, header):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if query_out is None:
        return []
    cuda = parse_cuda_version(header_out or "")
    return [dict(gpu, cuda=cuda) for gpu in parse_gpu_query(query_out)]


def _finish(proc: Any, deadline: float) -> str | None:
    import subprocess

    try:
        out, _ = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return None
    return str(out) if proc.returncode == 0 else None


def parse_gpu_query(text: str) -> list[dict[str, Any]]:
    """Rows of ``--query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits``."""
    gpus: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        # From the right: a product name could hold a comma, the other fields cannot.
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) != 3:
            continue
        name, driver, memory = parts
        gpus.append(
            {
                "name": name,
                "driver": _known(driver),
                "cuda": None,
                "memory_bytes": int(memory) * MIB if memory.isdigit() else None,
            }
        )
    return gpus


def parse_cuda_version(text: str) -> str | None:
    """The CUDA version the driver supports, from ``nvidia-smi`` or ``nvidia-smi -q`` output."""
    m = _CUDA_VERSION.search(text)
    return m.group(1).rstrip(".") if m else None


def _known(value: str) -> str | None:
    # nvidia-smi writes "[N/A]" or "[Not Supported]" for what it cannot tell.
    return None if not value or value.startswith("[") else value


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _run(argv: list[str], timeout: float) -> str | None:
    import subprocess

    from gitrelstate.guard.executables import which

    exe = which(argv[0])  # never a program of that name in the work tree
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None
