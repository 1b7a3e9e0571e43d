"""Environment variables that change results, with secret-looking values never kept in clear.

A secret's value is replaced by a keyed blake3 digest: a record still shows that
the value changed between two runs, yet the digest cannot be checked against a
guessed value without the repository's private key, which is never committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitrelstate.errors import RelstateError
from gitrelstate.guard import secrets

if TYPE_CHECKING:
    from gitrelstate.repo import Repo

# Known to change what a program computes, or which code and devices it runs on.
DEFAULT_PATTERNS: tuple[str, ...] = (
    # threads: OpenMP, BLAS/LAPACK, numexpr, numba, Rust-based libraries
    "OMP_*",
    "GOMP_*",
    "KMP_*",
    "MKL_*",
    "OPENBLAS_*",
    "GOTO_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_*",
    "NUMBA_*",
    "RAYON_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "TOKENIZERS_PARALLELISM",
    # devices and numerics: CUDA, NCCL, ROCm, frameworks' determinism switches
    "CUDA_*",
    "CUBLAS_*",
    "CUDNN_*",
    "NCCL_*",
    "NVIDIA_*",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "HSA_OVERRIDE_GFX_VERSION",
    "PYTORCH_*",
    "TORCH_*",
    "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_XLA_FLAGS",
    "XLA_FLAGS",
    "XLA_PYTHON_CLIENT_*",
    "JAX_*",
    "KERAS_BACKEND",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    # seeds
    "PYTHONHASHSEED",
    "SEED",
    "*_SEED",
    # locale and time zone: parsing, sorting, formatting
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    # which code and libraries are loaded
    "PYTHONPATH",
    "PYTHONOPTIMIZE",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "PYTHONWARNINGS",
    "VIRTUAL_ENV",
    "CONDA_DEFAULT_ENV",
    "CONDA_PREFIX",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "DYLD_LIBRARY_PATH",
)

KEY_BYTES = secrets.KEY_BYTES
KEY_FILE = "secret.key"
# A pattern from the committed config must name its variables: a wildcard needs a
# literal prefix this long ('MYAPP_*', 'LC_*'), so a pull request cannot widen the
# capture to every variable ('*', '?*', '*_URL') and have pre-push publish them.
MIN_COMMITTED_PREFIX = 3

# The rules live in guard.secrets (one rule set for every sink); these names stay for
# the callers that imported them from here.
is_secret_name = secrets.is_secret_name
is_secret = secrets.is_secret_variable
redact = secrets.digest
check_key = secrets.check_key


def committed_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` from the committed config is not honoured, or None when it is."""
    wild = [i for i in (pattern.find(c) for c in "*?[") if i >= 0]
    if not wild or min(wild) >= MIN_COMMITTED_PREFIX:
        return None
    return (
        f"'{pattern}' in .relstate/config.yaml (environment.variables) would capture "
        "variables nobody named; it is ignored"
    )


def configured_patterns(repo: Repo) -> list[str]:
    """The ``environment.variables`` patterns to capture: the local config's as they are,
    the committed config's without wildcards that could match anything (warned about)."""
    from gitrelstate import ui

    patterns: list[str] = []
    for local in (False, True):
        env = repo.read_config_doc(local=local).get("environment") or {}
        for pattern in (str(p) for p in env.get("variables") or []):
            problem = None if local else committed_pattern_problem(pattern)
            if problem is None:
                patterns.append(pattern)
            else:
                ui.warn(problem)
                ui.stderr(
                    "hint: name the variables, or give a prefix (MYAPP_*); patterns of your "
                    "own go in .relstate/config.local.yaml or 'run -e'"
                )
    return patterns


def selected_names(names: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """Names matching any pattern (fnmatch, case-sensitive as POSIX environments are), sorted."""
    wanted = (*DEFAULT_PATTERNS, *patterns)
    return sorted(n for n in names if any(fnmatchcase(n, p) for p in wanted))


def capture_variables(
    patterns: Sequence[str] = (),
    secret_key: bytes | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name in selected_names(env, patterns):
        value = env[name]
        secret = secrets.is_secret_variable(name, value)
        out[name] = secrets.digest(name, value, secret_key) if secret else _text(value)
    return out


def _text(value: str) -> str:
    # Undecodable bytes reach os.environ as lone surrogates, which YAML cannot write.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def load_or_create_secret_key(private_dir: Path) -> bytes:
    """The repository's 32-byte key in ``<private_dir>/secret.key``, created (0600) if missing."""
    path = private_dir / KEY_FILE
    key = _read_key(path)
    if key is not None:
        return key
    private_dir.mkdir(parents=True, exist_ok=True)
    from gitrelstate.fsutil import tmp_name

    tmp = tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(os.urandom(KEY_BYTES).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        # link() refuses to replace: of two processes creating the key at once,
        # the second one reads the first one's key instead of overwriting it.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            # A file system without hard links: a rename can race, but only at creation.
            if not path.exists():
                os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    key = _read_key(path)
    if key is None:
        raise RelstateError(f"could not create {path}")
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RelstateError(
            f"cannot read the secret key {path} ({exc})",
            hint="delete it to make a new one; redacted values recorded before will not compare",
        ) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise RelstateError(
            f"{path} does not hold a {KEY_BYTES}-byte key in hex",
            hint="delete it to make a new one; redacted values recorded before will not compare",
        )
    return key
