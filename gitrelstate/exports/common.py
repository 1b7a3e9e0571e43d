"""What the formats share: the URIs they name, deterministic JSON, repository URLs safe to
publish, package URLs (purls), and the library import guard. (What they show of the state
is redacted once, in ``source``.)"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from gitrelstate.errors import RelstateError
from gitrelstate.guard import secrets

# The root package is imported before any of its modules; reading its version from there
# keeps this layer from importing the package's top (which reaches the Python API).
VERSION: Final[str] = sys.modules["gitrelstate"].__version__
#: Where the formats' own URIs are documented (docs/provenance.md); stable, versioned by
#: the fragment, never by the branch.
PROVENANCE_DOCS: Final = "https://github.com/gitrelstate/gitrelstate/blob/main/docs/provenance.md"
INSTALL_HINT: Final = "install the export libraries: pip install 'gitrelstate[export]'"


def dumps(doc: Any) -> str:
    """Deterministic JSON: sorted keys, two-space indent, final newline; ASCII only (as
    OpenLineage's serialiser writes), so no name can carry a control or bidi character
    and the file and the terminal get the same bytes."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def text_value(value: Any) -> str:
    """A params/metrics value as the text formats that only hold strings want."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@contextlib.contextmanager
def library(distribution: str) -> Iterator[None]:
    """Turn a missing export library into an error with the install hint."""
    try:
        yield
    except ImportError as exc:
        missing = (exc.name or distribution).partition(".")[0]
        raise RelstateError(
            f"this export needs {distribution} (module '{missing}' is not installed)",
            hint=INSTALL_HINT,
        ) from None


# -- redaction ------------------------------------------------------------------------


def redact_text(text: str) -> str:
    """Text an export or a message shows that does not come from a cleaned state (a URL
    from the clone's config or the command line): the secret parts masked."""
    return secrets.redact_text(text)


# -- repository URLs -------------------------------------------------------------------

# user@host:path (git's scp-like syntax), not a Windows drive letter.
_SCP = re.compile(r"(?:(?P<user>[^@/:]+)@)?(?P<host>[A-Za-z0-9.-]{2,}):(?!//)(?P<path>.+)")


def clean_url(url: str) -> str | None:
    """A remote URL that is safe to publish: no credentials, query or fragment; scp-like
    ``git@host:org/repo`` as ``ssh://git@host/org/repo``. None for local paths."""
    url = url.strip()
    scp = _SCP.fullmatch(url)
    if scp and "://" not in url:
        user = "git@" if scp.group("user") == "git" else ""
        url = f"ssh://{user}{scp.group('host')}/{scp.group('path').lstrip('/')}"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or parts.scheme == "file" or not host:
        return None
    netloc = host + (f":{port}" if port is not None else "")
    cleaned = redact_text(urlunsplit((parts.scheme.lower(), netloc, parts.path, "", "")))
    # A user name can itself be a token (https://<token>@host/...): only ssh's 'git' stays.
    if parts.username == "git" and parts.password is None:
        scheme, _, rest = cleaned.partition("://")
        cleaned = f"{scheme}://git@{rest}"
    return cleaned


def browse_url(repository: str, commit: str) -> str:
    """A web page of the code at ``commit`` where the host's layout is known (GitHub,
    GitLab), else the repository URL itself."""
    parts = urlsplit(repository)
    path = parts.path.removesuffix(".git").rstrip("/")
    host = parts.hostname or ""
    if host == "github.com":
        return f"https://{host}{path}/tree/{commit}"
    if host == "gitlab.com":
        return f"https://{host}{path}/-/tree/{commit}"
    return repository


# -- packages --------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One installed distribution of the recorded environment, as the formats name it."""

    name: str
    version: str | None
    purl: str
    vcs_url: str | None = None  # git+URL@commit for a VCS install
    commit: str | None = None
    editable: bool = False
    local: bool = False  # installed from a local folder or file (its path is not shown)


def _purl_part(text: str) -> str:
    return quote(text, safe="")


def purl(name: str, version: str | None, qualifiers: Mapping[str, str] | None = None) -> str:
    """``pkg:pypi/NAME@VERSION[?k=v]`` (purl spec: pypi names lower-case, '_' -> '-')."""
    out = "pkg:pypi/" + _purl_part(name.lower().replace("_", "-"))
    if version:
        out += "@" + _purl_part(version)
    if qualifiers:
        out += "?" + "&".join(
            f"{k}={quote(v, safe='/:')}" for k, v in sorted(qualifiers.items()) if v
        )
    return out


def packages(environment: Mapping[str, Any]) -> list[Package]:
    """The environment's packages, sorted by name: plain ``name: version`` entries and the
    PEP 610 mappings of VCS, editable and local installs."""
    found: list[Package] = []
    recorded = environment.get("packages")
    if not isinstance(recorded, Mapping):
        return found
    for name in sorted(recorded):
        info = recorded[name]
        if not isinstance(info, Mapping):
            version = None if info is None else str(info)
            found.append(Package(name, version, purl(name, version)))
            continue
        version = str(info["version"]) if info.get("version") is not None else None
        url = str(info.get("url") or "")
        commit = str(info["commit"]) if isinstance(info.get("commit"), str) else None
        vcs_url = None
        if info.get("vcs") == "git" and commit:
            remote = clean_url(url.removeprefix("git+"))
            vcs_url = f"git+{remote}@{commit}" if remote else None
        qualifiers = {"vcs_url": vcs_url} if vcs_url else None
        found.append(
            Package(
                name,
                version,
                purl(name, version, qualifiers),
                vcs_url=vcs_url,
                commit=commit if vcs_url else None,
                editable=bool(info.get("editable")),
                local=url.startswith("file:"),
            )
        )
    return found
