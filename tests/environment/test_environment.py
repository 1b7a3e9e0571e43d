"""Environment capture and comparison, on this interpreter and on a real venv."""

from __future__ import annotations

import json
import os
import platform
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gitrelstate
from gitrelstate import hashing
from gitrelstate.environment import (
    LAYERS,
    capture_environment,
    find_python,
    is_secret_name,
    load_or_create_secret_key,
)
from gitrelstate.environment import hardware as hw
from gitrelstate.environment._probe import normalise_name, strip_url_password
from gitrelstate.environment.envdiff import compare_environments
from gitrelstate.errors import RelstateError
from gitrelstate.state import yamlio

KEY = bytes(range(32))
SECRET = "s3cr3t-VALUE-9f8e7d"


def dumped(doc: dict[str, Any]) -> str:
    return yamlio.dumps(doc) + json.dumps(doc)


# -- this interpreter ---------------------------------------------------------


def test_running_interpreter_document() -> None:
    doc = capture_environment()
    assert tuple(doc) == LAYERS
    assert doc["interpreter"] == {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "executable": sys.executable,
    }
    assert doc["platform"] == {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
    }
    packages = doc["packages"]
    assert packages["pytest"] == pytest.__version__
    own = packages["gitrelstate"]
    assert (own["version"] if isinstance(own, dict) else own) == gitrelstate.__version__
    assert list(packages) == sorted(packages)
    assert all(name == normalise_name(name) for name in packages)
    cpu = doc["hardware"]["cpu"]
    assert cpu["count"] == os.cpu_count() and 1 <= cpu["available"] <= cpu["count"]
    assert doc["hardware"]["memory_bytes"] > 0
    assert doc["lockfiles"] == {}
    # Plain data only: it survives both serialisations unchanged.
    assert json.loads(json.dumps(doc)) == doc
    assert yamlio.loads(yamlio.dumps(doc), "doc") == doc


def test_capture_is_deterministic_and_fast(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy==2.1.0\n")
    t0 = time.perf_counter()
    first = capture_environment(repo_root=tmp_path, secret_key=KEY)
    elapsed = time.perf_counter() - t0
    second = capture_environment(repo_root=tmp_path, secret_key=KEY)
    assert first == second
    assert yamlio.dumps(first) == yamlio.dumps(second)
    assert not compare_environments(first, second)
    assert elapsed < 3.0, f"capture took {elapsed:.3f} s"


# -- another interpreter: a real venv -----------------------------------------


def _make_venv(root: Path) -> tuple[Path, Path]:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return python, Path(purelib)


def _fake_dist(site: Path, dirname: str, name: str, version: str, **files: str) -> None:
    info = site / dirname
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\n"
        "Version: 0.0.0-in-the-long-description\n"
    )
    for filename, text in files.items():
        (info / filename).write_text(text)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python, site = _make_venv(tmp_path_factory.mktemp("venv") / "env")
    _fake_dist(site, "demo_pkg-1.2.3.dist-info", "Demo_Pkg", "1.2.3")
    _fake_dist(
        site,
        "vcs_pkg-0.4.0.dist-info",
        "vcs.pkg",
        "0.4.0",
        **{
            "direct_url.json": json.dumps(
                {
                    "url": "https://user:hunter2@example.invalid/org/vcs-pkg.git",
                    "vcs_info": {"vcs": "git", "commit_id": "a" * 40, "requested_revision": "main"},
                }
            )
        },
    )
    _fake_dist(
        site,
        "local_pkg-0.1.dev0.dist-info",
        "local-pkg",
        "0.1.dev0",
        **{
            "direct_url.json": json.dumps(
                {"url": "file:///src/local", "dir_info": {"editable": True}}
            )
        },
    )
    # Old-style egg-info directory with PKG-INFO instead of METADATA.
    egg = site / "Old_Egg-2.0-py3.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: Old-Egg\nVersion: 2.0\n")
    return python


def test_packages_are_the_venvs(venv: Path) -> None:
    doc = capture_environment(python=str(venv))
    assert tuple(doc) == LAYERS
    # Recorded under the venv's canonical name: its python and python3 are one interpreter.
    assert doc["interpreter"]["executable"] == str(venv.with_name("python3"))
    assert doc["interpreter"]["version"] == platform.python_version()
    packages = doc["packages"]
    assert "pytest" not in packages and "gitrelstate" not in packages
    assert packages["demo-pkg"] == "1.2.3"
    assert packages["old-egg"] == "2.0"
    assert packages["vcs-pkg"] == {
        "version": "0.4.0",
        "url": "https://example.invalid/org/vcs-pkg.git",
        "vcs": "git",
        "commit": "a" * 40,
    }
    assert packages["local-pkg"] == {
        "version": "0.1.dev0",
        "url": "file:///src/local",
        "editable": True,
    }
    assert "hunter2" not in dumped(doc)
    assert capture_environment(python=str(venv)) == doc


def test_url_passwords_are_stripped() -> None:
    assert strip_url_password("https://u:tok@h/x.git") == "https://h/x.git"
    assert strip_url_password("https://ghp_abc@github.com/o/r") == "https://github.com/o/r"
    assert strip_url_password("ssh://git@github.com/o/r") == "ssh://git@github.com/o/r"
    assert strip_url_password("https://${TOKEN}@h/r") == "https://${TOKEN}@h/r"
    assert strip_url_password("file:///src/x") == "file:///src/x"


def test_venv_sees_pythonpath_first(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the user's command imports wins, as it would for 'import demo_pkg'.
    _fake_dist(tmp_path / "extra", "demo_pkg-9.9.dist-info", "demo-pkg", "9.9")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "extra"))
    doc = capture_environment(python=str(venv))
    assert doc["packages"]["demo-pkg"] == "9.9"
    assert doc["variables"]["PYTHONPATH"] == str(tmp_path / "extra")


def test_probe_ignores_current_folder(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A repository's own json.py must not replace the standard library in the probe.
    (tmp_path / "json.py").write_text("raise SystemExit('shadowed')\n")
    _fake_dist(tmp_path, "cwd_pkg-1.0.dist-info", "cwd-pkg", "1.0")
    monkeypatch.chdir(tmp_path)
    doc = capture_environment(python=str(venv))
    assert "cwd-pkg" not in doc["packages"]


def test_own_interpreter_is_read_in_process() -> None:
    assert (
        capture_environment(python=sys.executable)["packages"] == capture_environment()["packages"]
    )


def test_probe_output_noise_is_skipped(tmp_path: Path) -> None:
    noisy = tmp_path / "noisy-python"
    noisy.write_text(f'#!/bin/sh\necho "hello from sitecustomize"\nexec "{sys.executable}" "$@"\n')
    noisy.chmod(0o755)
    doc = capture_environment(python=str(noisy))
    assert doc["packages"]["pytest"] == pytest.__version__


def test_unusable_interpreter_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(RelstateError, match="cannot run"):
        capture_environment(python=str(tmp_path / "no-such-python"))
    broken = tmp_path / "python-broken"
    broken.write_text("#!/bin/sh\necho 'Python 2.7 says no' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(RelstateError, match=r"Python 2\.7 says no") as info:
        capture_environment(python=str(broken))
    assert info.value.hint


def test_find_python(venv: Path, tmp_path: Path) -> None:
    assert find_python([str(venv), "train.py"]) == str(venv)
    script = tmp_path / "train"
    script.write_text(f"#!{venv}\nprint('hi')\n")
    script.chmod(0o755)
    assert find_python([str(script), "--epochs", "3"]) == str(venv)
    assert find_python(["train"], cwd=tmp_path) == str(venv)
    long_form = tmp_path / "long"
    long_form.write_text(f"#!/bin/sh\n'''exec' \"{venv}\" \"$0\" \"$@\"\n' '''\nimport sys\n")
    long_form.chmod(0o755)
    assert find_python([str(long_form)]) == str(venv)
    env_form = tmp_path / "env-form"
    env_form.write_text("#!/usr/bin/env -S python3 -u\n")
    env_form.chmod(0o755)
    assert find_python([str(env_form)]) is not None


# -- variables and secrets ----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "HF_TOKEN",
        "PGPASSWORD",
        "DB_PASSWD",
        "MYSQL_PWD",
        "apiKey",
        "OPENAI_APIKEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "OAUTH_CLIENT_ID",
        "BASIC_AUTH",
        "SSH_PRIVATE_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "SENTRY_DSN",
        "NVIDIA_API_KEY",
        "MY_ACCESSTOKEN",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "KEYBOARD_LAYOUT",
        "TOKENIZERS_PARALLELISM",
        "GIT_AUTHOR_NAME",
        "OMP_NUM_THREADS",
        "PYTHON_KEYRING_BACKEND",
        "PWD",
        "OLDPWD",
        "CUDA_VISIBLE_DEVICES",
        "PYTHONHASHSEED",
        "LANG",
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


def test_default_and_requested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "OMP_NUM_THREADS": "4",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "PYTHONHASHSEED": "0",
        "TRAIN_SEED": "42",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "MY_FLAG": "on",
        "MY_OTHER": "x",
        "UNRELATED_THING": "nope",
        "KEYBOARD_LAYOUT": "de",
    }.items():
        monkeypatch.setenv(name, value)
    variables = capture_environment(variables=["MY_F*", "KEYBOARD_LAYOUT"])["variables"]
    assert list(variables) == sorted(variables)
    assert variables["OMP_NUM_THREADS"] == "4"
    assert variables["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert variables["PYTHONHASHSEED"] == "0"
    assert variables["TRAIN_SEED"] == "42"
    assert variables["LC_ALL"] == "C.UTF-8"
    assert variables["TZ"] == "UTC"
    assert variables["MY_FLAG"] == "on"
    assert variables["KEYBOARD_LAYOUT"] == "de"
    assert "MY_OTHER" not in variables and "UNRELATED_THING" not in variables


def test_secrets_never_written_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)
    monkeypatch.setenv("NVIDIA_API_KEY", SECRET)  # caught by the default NVIDIA_* pattern
    monkeypatch.setenv("DATABASE_URL", f"postgres://app:{SECRET}@db.internal/app")
    doc = capture_environment(variables=["API_TOKEN", "DATABASE_URL"], secret_key=KEY)
    assert SECRET not in dumped(doc)
    variables = doc["variables"]
    for name in ("API_TOKEN", "NVIDIA_API_KEY", "DATABASE_URL"):
        assert variables[name]["redacted"].startswith("blake3-keyed:")
    # Bound to the name: one secret in two variables does not show as equal digests.
    assert variables["API_TOKEN"] != variables["NVIDIA_API_KEY"]
    # Without a key nothing secret-derived is written at all.
    unkeyed = capture_environment(variables=["API_TOKEN"])["variables"]["API_TOKEN"]
    assert unkeyed == {"redacted": "unkeyed"}


def test_secret_change_is_visible_but_not_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)
    before = capture_environment(variables=["API_TOKEN"], secret_key=KEY)
    assert capture_environment(variables=["API_TOKEN"], secret_key=KEY) == before
    monkeypatch.setenv("API_TOKEN", SECRET + "-rotated")
    after = capture_environment(variables=["API_TOKEN"], secret_key=KEY)
    assert after["variables"]["API_TOKEN"] != before["variables"]["API_TOKEN"]
    diff = compare_environments(before, after)
    assert "variable API_TOKEN changed (redacted)" in diff.lines()
    rendered = json.dumps(diff.to_dict()) + "\n".join(diff.lines())
    assert SECRET not in rendered
    assert before["variables"]["API_TOKEN"]["redacted"] not in rendered
    assert diff.to_dict()["variables"]["changed"] == [{"name": "API_TOKEN", "redacted": True}]
    # Another key, another digest: digests cannot be compared across repositories.
    other = capture_environment(variables=["API_TOKEN"], secret_key=bytes(32))
    assert other["variables"]["API_TOKEN"] != after["variables"]["API_TOKEN"]


def test_secret_key_file(tmp_path: Path) -> None:
    private = tmp_path / "git" / "relstate"
    key = load_or_create_secret_key(private)
    assert len(key) == 32
    path = private / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret_key(private) == key
    assert [p.name for p in private.iterdir()] == ["secret.key"]
    path.write_text("not hex\n")
    with pytest.raises(RelstateError, match="32-byte key") as info:
        load_or_create_secret_key(private)
    assert "delete it" in (info.value.hint or "")
    with pytest.raises(ValueError):
        capture_environment(secret_key=b"short")


def test_secret_key_created_once_under_contention(tmp_path: Path) -> None:
    private = tmp_path / "relstate"
    keys: list[bytes] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        keys.append(load_or_create_secret_key(private))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in private.iterdir()] == ["secret.key"]


# -- lock files ---------------------------------------------------------------


def test_lockfile_digests(tmp_path: Path) -> None:
    files = {
        "requirements.txt": "numpy==2.1.0\n",
        "requirements-dev.txt": "pytest\n",
        "uv.lock": "version = 1\n",
        "pyproject.toml": "[project]\nname = 'x'\n",
        "environment.yml": "name: x\n",
        "svc/pyproject.toml": "[project]\nname = 'svc'\n",
        "requirements/base.in": "numpy\n",
        "deep/er/uv.lock": "too deep\n",
        ".venv/pyproject.toml": "hidden\n",
        "README.md": "not a lock file\n",
        "notes.txt": "nor this\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    locks = capture_environment(repo_root=tmp_path)["lockfiles"]
    assert list(locks) == sorted(
        [
            "environment.yml",
            "pyproject.toml",
            "requirements-dev.txt",
            "requirements.txt",
            "requirements/base.in",
            "svc/pyproject.toml",
            "uv.lock",
        ]
    )
    for rel, digest in locks.items():
        assert digest == "blake3:" + hashing.hash_file(tmp_path / rel)[0]
    before = capture_environment(repo_root=tmp_path)
    (tmp_path / "uv.lock").write_text("version = 2\n")
    (tmp_path / "requirements-dev.txt").unlink()
    (tmp_path / "poetry.lock").write_text("[[package]]\n")
    diff = compare_environments(before, capture_environment(repo_root=tmp_path))
    assert diff.lines() == [
        "lockfile poetry.lock added",
        "lockfile requirements-dev.txt removed",
        "lockfile uv.lock changed",
    ]
    assert set(diff.to_dict()["lockfiles"]["changed"]) == {"uv.lock"}


# -- nvidia-smi ---------------------------------------------------------------

H100_QUERY = "NVIDIA H100 80GB HBM3, 550.54.15, 81559\nNVIDIA H100 80GB HBM3, 550.54.15, 81559\n"
H100_HEADER = """\
Tue Mar 12 10:21:07 2024
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:19:00.0 Off |                    0 |
| N/A   31C    P0             70W /  700W |       1MiB /  81559MiB |      0%      Default |
+-----------------------------------------+------------------------+----------------------+
"""
OLD_HEADER = "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2     |\n"
Q_OUTPUT = """\
==============NVSMI LOG==============

Driver Version                            : 550.54.15
CUDA Version                              : 12.4

Attached GPUs                             : 1
"""


def test_parse_gpu_query() -> None:
    gpus = hw.parse_gpu_query(H100_QUERY)
    assert (
        gpus
        == [
            {
                "name": "NVIDIA H100 80GB HBM3",
                "driver": "550.54.15",
                "cuda": None,
                "memory_bytes": 81559 * 1024 * 1024,
            }
        ]
        * 2
    )
    odd = hw.parse_gpu_query("Tesla T4, Rev. B, 470.82.01, [N/A]\n\nnot a row\n")
    assert odd == [
        {"name": "Tesla T4, Rev. B", "driver": "470.82.01", "cuda": None, "memory_bytes": None}
    ]
    assert hw.parse_gpu_query("") == []


def test_parse_cuda_version() -> None:
    assert hw.parse_cuda_version(H100_HEADER) == "12.4"
    assert hw.parse_cuda_version(OLD_HEADER) == "12.2"
    assert hw.parse_cuda_version(Q_OUTPUT) == "12.4"
    assert hw.parse_cuda_version("NVIDIA-SMI has failed because it couldn't communicate") is None


def test_parse_cpuinfo() -> None:
    x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 143\n"
    x86 += "model name\t: Intel(R) Xeon(R) Platinum 8480+\n\nprocessor\t: 1\n"
    assert hw.parse_cpuinfo_model(x86) == "Intel(R) Xeon(R) Platinum 8480+"
    arm = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd4f\n\n"
    arm += "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    assert hw.parse_cpuinfo_model(arm) == "Raspberry Pi 4 Model B Rev 1.4"
    assert hw.parse_cpuinfo_model("") is None


def _fake_nvidia_smi(folder: Path, body: str) -> None:
    folder.mkdir(exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(0o755)


def test_gpus_from_nvidia_smi_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "query.txt").write_text(H100_QUERY)
    (tmp_path / "header.txt").write_text(H100_HEADER)
    _fake_nvidia_smi(
        tmp_path / "bin",
        f'if [ "$#" -gt 0 ]; then cat "{tmp_path}/query.txt"; else cat "{tmp_path}/header.txt"; fi',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    gpus = capture_environment()["hardware"]["gpus"]
    assert len(gpus) == 2
    assert gpus[0] == {
        "name": "NVIDIA H100 80GB HBM3",
        "driver": "550.54.15",
        "cuda": "12.4",
        "memory_bytes": 81559 * 1024 * 1024,
    }


def test_no_gpu_when_nvidia_smi_fails_hangs_or_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert hw.capture_gpus() == []
    _fake_nvidia_smi(tmp_path / "fails", "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    monkeypatch.setenv("PATH", str(tmp_path / "fails"))
    assert hw.capture_gpus() == []
    _fake_nvidia_smi(tmp_path / "hangs", "exec sleep 30")
    monkeypatch.setenv("PATH", str(tmp_path / "hangs"))
    t0 = time.perf_counter()
    assert hw.capture_gpus(timeout=0.5) == []
    assert time.perf_counter() - t0 < 5


# -- comparison ---------------------------------------------------------------


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "interpreter": {"implementation": "CPython", "version": "3.11.7", "executable": "/p"},
        "platform": {"system": "Linux", "release": "6.1", "machine": "x86_64"},
        "hardware": {
            "cpu": {"model": "EPYC", "count": 8, "available": 8},
            "memory_bytes": 1024,
            "gpus": [],
        },
        "packages": {"numpy": "1.26.4", "pandas": "2.2.0", "torch": "2.3.0"},
        "lockfiles": {},
        "variables": {"OMP_NUM_THREADS": "4", "SEED": "1"},
    }
    for layer, value in changes.items():
        doc[layer] = value
    return doc


def test_envdiff_packages_variables_interpreter() -> None:
    old = _doc()
    new = _doc(
        interpreter={"implementation": "CPython", "version": "3.12.1", "executable": "/p"},
        packages={
            "numpy": "2.1.0",
            "pandas": "2.2.0",
            "polars": "1.0.0",
            "mylib": {"version": "0.2", "url": "https://g/x.git", "vcs": "git", "commit": "b" * 40},
        },
        variables={"OMP_NUM_THREADS": "8", "TZ": "UTC"},
    )
    diff = compare_environments(old, new)
    assert diff
    assert diff.lines() == [
        "interpreter version 3.11.7 -> 3.12.1",
        f"package mylib added (0.2 (git {'b' * 12}))",
        "package polars added (1.0.0)",
        "package torch removed (was 2.3.0)",
        "package numpy 1.26.4 -> 2.1.0",
        "variable TZ added (UTC)",
        "variable SEED removed (was 1)",
        "variable OMP_NUM_THREADS 4 -> 8",
    ]
    as_dict = diff.to_dict()
    assert tuple(as_dict) == LAYERS
    assert as_dict["interpreter"] == [{"key": "version", "old": "3.11.7", "new": "3.12.1"}]
    assert as_dict["packages"]["changed"] == {"numpy": {"old": "1.26.4", "new": "2.1.0"}}
    assert as_dict["packages"]["removed"] == {"torch": "2.3.0"}
    assert as_dict["variables"] == {
        "added": [{"name": "TZ", "value": "UTC"}],
        "removed": [{"name": "SEED", "value": "1"}],
        "changed": [{"name": "OMP_NUM_THREADS", "old": "4", "new": "8"}],
    }
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_envdiff_hardware_and_layers() -> None:
    gpu = {"name": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "cuda": "12.4"}
    new = _doc(
        hardware={
            "cpu": {"model": "EPYC", "count": 16, "available": 16},
            "memory_bytes": 1024,
            "gpus": [gpu],
        }
    )
    diff = compare_environments(_doc(), new)
    assert diff.lines() == [
        "hardware cpu.count 8 -> 16",
        "hardware cpu.available 8 -> 16",
        "hardware gpus.0.name (none) -> NVIDIA H100 80GB HBM3",
        "hardware gpus.0.driver (none) -> 550.54.15",
        "hardware gpus.0.cuda (none) -> 12.4",
    ]
    assert not compare_environments(_doc(), new, layers=["packages", "variables"])
    with pytest.raises(RelstateError, match="unknown environment layer"):
        compare_environments(_doc(), new, layers=["hardwares"])


def test_envdiff_tolerates_old_or_partial_documents() -> None:
    diff = compare_environments({"packages": {"numpy": "1.0"}}, {"packages": "garbage"})
    assert diff.lines() == ["package numpy removed (was 1.0)"]
    assert not compare_environments({}, {})
