"""What an interpreter reports about itself: interpreter, platform, installed distributions.

This module is imported in-process for the running interpreter and, for any other
interpreter (a venv's python that the user's command runs), its source is run
there once with ``python -c``, so both paths give the same document. It must
therefore depend on the standard library only, import nothing of gitrelstate,
and keep to syntax that Python 3.8 accepts.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from typing import Any

# The line the subprocess prints its answer on; anything a sitecustomize prints is skipped.
MARKER = "relstate-probe:"

_NORMALISE = re.compile(r"[-_.]+")
# A password in a URL's user info (it may hold '/': redis://:pa/ss@host); a bare user
# name (git@...) or ${VAR} is kept; host:port/path@x is no user info.
_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^\s/?#@:]*(?::[^\s@]*)?)@")
_PORT_THEN_PATH = re.compile(r"[^:]+:[0-9]{1,5}/.*")


def normalise_name(name: str) -> str:
    """PEP 503 name normalisation: lowercase, runs of '-', '_', '.' become one '-'."""
    return _NORMALISE.sub("-", name).lower()


def interpreter() -> dict[str, Any]:
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "executable": sys.executable,
    }


def platform_info() -> dict[str, Any]:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
    }


def _headers(text: str) -> tuple[str | None, str | None]:
    """Name and Version from a METADATA/PKG-INFO text, reading only the header block.

    email.parser would parse the whole file (long descriptions included) and costs
    ten times more than everything else this module does.
    """
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break
        if name is None and line[:5].lower() == "name:":
            name = line[5:].strip()
        elif version is None and line[:8].lower() == "version:":
            version = line[8:].strip()
        if name is not None and version is not None:
            break
    return name, version


def strip_url_password(url: str) -> str:
    """An install URL as it may leave this process: without user info that could carry a
    password or token (``git@`` and ``${VAR}`` stay), query or fragment (presigned
    signatures, ``?token=``). The probe runs in another interpreter, where gitrelstate
    cannot be imported; the caller then passes the whole document through
    ``gitrelstate.guard.secrets.redact``, which knows every other secret shape."""
    url = url.split("#", 1)[0].split("?", 1)[0]
    m = _URL_PASSWORD.match(url)
    if not m:
        return url
    userinfo = m.group(2)
    if _PORT_THEN_PATH.fullmatch(userinfo):
        return url
    if ":" not in userinfo and (userinfo == "git" or userinfo.startswith("${")):
        return url
    if userinfo.startswith("${") and userinfo.endswith("}"):
        return url
    return m.group(1) + url[m.end() :]


def _direct_url(text: str | None, version: str | None) -> dict[str, Any] | None:
    """The PEP 610 facts worth recording, or None for a plain index install."""
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        return None
    entry: dict[str, Any] = {"version": version, "url": strip_url_password(info["url"])}
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict):
        if isinstance(vcs.get("vcs"), str):
            entry["vcs"] = vcs["vcs"]
        if isinstance(vcs.get("commit_id"), str):
            entry["commit"] = vcs["commit_id"]
    if isinstance(info.get("subdirectory"), str):
        entry["subdirectory"] = info["subdirectory"]
    dir_info = info.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable") is True:
        entry["editable"] = True
    return entry


def search_path() -> list[str]:
    # '' is whatever folder this process was started in (python -c, python -m), not
    # where the user's program finds installed distributions.
    return [p for p in sys.path if p]


def packages(path: list[str] | None = None) -> dict[str, Any]:
    """Installed distributions, first on the search path wins (as for imports)."""
    from importlib import metadata

    found: dict[str, Any] = {}
    for dist in metadata.distributions(path=search_path() if path is None else path):
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("")
        if not text:
            continue
        name, version = _headers(text)
        if not name:
            continue
        key = normalise_name(name)
        if key in found:
            continue
        found[key] = _direct_url(dist.read_text("direct_url.json"), version) or version
    return {k: found[k] for k in sorted(found)}


def collect() -> dict[str, Any]:
    return {"interpreter": interpreter(), "platform": platform_info(), "packages": packages()}


def main() -> None:
    sys.stdout.write(MARKER + json.dumps(collect()) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
