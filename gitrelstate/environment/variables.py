"""Environment variables that change results, with secret-looking values never kept in clear.

A secret's value is replaced by a keyed blake3 digest: a record still shows that
the value changed between two runs, yet the digest cannot be checked against a
guessed value without the repository's private key, which is never committed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from gitrelstate import hashing
from gitrelstate.errors import RelstateError

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

KEY_BYTES = 32
KEY_FILE = "secret.key"

# Checked against each word of the upper-cased name (split at '_', '-', '.').
# Word-wise so that TOKENIZERS_PARALLELISM, KEYBOARD or GIT_AUTHOR_NAME are not
# secrets, while API_KEY, GITHUB_TOKEN, apiKey and OAUTH_CLIENT are.
_SECRET_WORD = re.compile(
    r".*(SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|COOKIE|APIKEY).*"
    r"|.*TOKEN|TOKENS|.*KEY|KEYS|O?AUTH[NZ]?|AUTHORI[SZ]ATION|PASS|PWD|PW|SALT|DSN|SAS"
    r"|SIGNATURE"
)
_SECRET_NAME = re.compile(r"CONNECTION_?STR(ING)?|CONNSTR")
# PWD and OLDPWD are folders that every shell sets, not passwords.
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})
# A URL with a password in it, whatever the variable is called (DATABASE_URL=...).
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:]*:[^/\s@]+@")


def is_secret_name(name: str) -> bool:
    """Whether a variable's name says it holds a credential."""
    upper = name.upper()
    if upper in _NOT_SECRET:
        return False
    if _SECRET_NAME.search(upper):
        return True
    return any(_SECRET_WORD.fullmatch(word) for word in re.split(r"[^A-Z0-9]+", upper) if word)


def is_secret(name: str, value: str) -> bool:
    """Whether a variable must be redacted: by its name, or by a password in its value."""
    return is_secret_name(name) or bool(_URL_WITH_PASSWORD.search(value))


def redact(name: str, value: str, key: bytes | None) -> dict[str, str]:
    """The record of a secret: a keyed digest, bound to the name so equal values do not show."""
    if key is None:
        # Without the repository's key no digest is safe to write; a change then goes unseen.
        return {"redacted": "unkeyed"}
    check_key(key)
    digest = hashing.keyed_hex(key, name.encode() + b"\0" + value.encode(errors="surrogateescape"))
    return {"redacted": f"blake3-keyed:{digest}"}


def check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"secret_key must be {KEY_BYTES} bytes")
    return key


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
        out[name] = redact(name, value, secret_key) if is_secret(name, value) else _text(value)
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
