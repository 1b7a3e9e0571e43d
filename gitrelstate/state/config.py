"""``.relstate/config.yaml`` (committed) and ``config.local.yaml`` (per machine)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrelstate import hashing
from gitrelstate.errors import StateFileError
from gitrelstate.state import FORMAT_VERSION, model

KIND = "config"
KEYS = ("relstate", "kind", "default_remote", "remotes", "cache", "environment", "hooks")
LINK_TYPES = ("reflink", "copy", "hardlink", "symlink")
DEFAULT_LINK = ("reflink", "copy")
# What the pre-commit hook does about a stale run record (docs/hooks.md).
STALE_RUN_POLICIES = ("block", "warn")
# Option names whose values are credentials: never written to the committed config.
SECRET_OPTION = re.compile(
    r"(secret|token|passw|passphrase|credential|private|auth|connection_string|"
    r"(^|[_.-])key$|^key$|apikey|api_key|account_key|sas|signature|session)",
    re.IGNORECASE,
)


# Options whose every value is a credential or can carry one (HTTP headers), whatever
# the name of the header: they belong in the local file.
_SECRET_BRANCH = re.compile(r"headers?|.*_headers?", re.IGNORECASE)


def is_secret_option(name: str) -> bool:
    """Whether an option's (dotted) name says it holds a credential."""
    return bool(SECRET_OPTION.search(name.rsplit(".", 1)[-1]))


def secret_option_names(options: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of options that hold secrets, nested mappings included: by their name,
    by their value (``proxies.https: http://u:p@proxy``, a token in a URL), or because they
    are HTTP headers (``headers.X-Api-Client``)."""
    from gitrelstate.guard import secrets  # not at import: status reads configs too

    found = []
    for key, value in options.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.extend(secret_option_names(value, dotted + "."))
        elif (
            is_secret_option(str(key))
            or any(_SECRET_BRANCH.fullmatch(part) for part in dotted.split(".")[:-1])
            or (isinstance(value, str) and secrets.classify(str(key), value) is not None)
        ):
            found.append(dotted)
    return found


def url_secret(url: str) -> str | None:
    """What secret a remote URL holds (user info, a query token), or None."""
    from gitrelstate.guard import secrets

    spans = secrets.find(url)
    return spans[0].what if spans else None


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_remote_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise StateFileError(
            f"invalid remote name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 64 characters)",
        )
    return name


CLIENTS = ("auto", "obstore", "fsspec")


@dataclass(frozen=True)
class RemoteConfig:
    name: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    client: str = "auto"  # which library moves the bytes (auto: obstore where it can)
    packs: bool = True  # push small objects in pack files (false: one file per object)
    # Where the settings came from (binding(), docs/remotes.md): the fingerprint of what
    # the committed file says about this remote, the one config.local.yaml pinned, and
    # whether the local file sets the URL or any option of its own.
    committed: str | None = None
    pinned: str | None = None
    local_url: bool = False
    local_settings: bool = False


@dataclass(frozen=True)
class Config:
    """The merged view of the committed and local configuration."""

    remotes: Mapping[str, RemoteConfig] = field(default_factory=dict)
    default_remote: str | None = None
    link: tuple[str, ...] = DEFAULT_LINK
    stale_runs: str = "block"  # hooks.stale_runs: pre-commit blocks or warns
    post_checkout: bool = False  # hooks.post_checkout: check out data after a branch switch


def empty_document() -> dict[str, Any]:
    return {"relstate": FORMAT_VERSION, "kind": KIND}


def validate(data: object, source: str) -> dict[str, Any]:
    """Check a config document; return it unchanged (unknown keys are kept)."""
    doc = model.check_header(data, source, KIND)
    model.optional(doc, "default_remote", str, source)
    remotes = model.optional(doc, "remotes", dict, source) or {}
    for name, spec in remotes.items():
        where = f"{source}: remotes.{name}"
        if not isinstance(name, str):
            raise StateFileError(f"{source}: remote names must be strings")
        check_remote_name(name)
        if not isinstance(spec, dict):
            raise StateFileError(f"{where} must be a mapping with 'url'")
        if "url" in spec:
            model.check_type(spec["url"], f"remotes.{name}.url", str, source)
        model.optional(spec, "options", dict, f"{source}: remotes.{name}")
        client = model.optional(spec, "client", str, f"{source}: remotes.{name}")
        if client is not None and client not in CLIENTS:
            raise StateFileError(
                f"{where}.client must be one of {', '.join(CLIENTS)}, got {client!r}"
            )
        model.optional(spec, "packs", bool, f"{source}: remotes.{name}")
        pinned = model.optional(spec, "pinned", str, f"{source}: remotes.{name}")
        if pinned is not None and not _PIN.fullmatch(pinned):
            raise StateFileError(f"{where}.pinned must look like 'blake3:<64 hex digits>'")
    env = model.optional(doc, "environment", dict, source) or {}
    variables = env.get("variables")
    if variables is not None and (
        not isinstance(variables, list) or not all(isinstance(v, str) for v in variables)
    ):
        raise StateFileError(
            f"{source}: 'environment.variables' must be a list of names or patterns"
        )
    cache = model.optional(doc, "cache", dict, source) or {}
    link = cache.get("link")
    if link is not None:
        links = [link] if isinstance(link, str) else link
        if not isinstance(links, list) or not links or any(x not in LINK_TYPES for x in links):
            raise StateFileError(
                f"{source}: 'cache.link' must be one or a list of {', '.join(LINK_TYPES)}"
            )
    _validate_hooks(doc, source)
    return doc


def _validate_hooks(doc: dict[str, Any], source: str) -> None:
    hooks = model.optional(doc, "hooks", dict, source) or {}
    policy = hooks.get("stale_runs")
    if policy is not None and policy not in STALE_RUN_POLICIES:
        raise StateFileError(
            f"{source}: 'hooks.stale_runs' must be one of {', '.join(STALE_RUN_POLICIES)}, "
            f"got {str(policy)[:40]!r}"
        )
    model.optional(hooks, "post_checkout", bool, f"{source}: hooks")


def merge(shared: Mapping[str, Any], local: Mapping[str, Any]) -> Config:
    """Local settings override shared ones; remote options merge per key."""
    remotes: dict[str, dict[str, Any]] = {}
    for doc in (shared, local):
        for name, spec in (doc.get("remotes") or {}).items():
            entry = remotes.setdefault(
                name, {"url": None, "options": {}, "client": "auto", "packs": True}
            )
            if spec.get("url"):
                entry["url"] = spec["url"]
            if spec.get("client"):
                entry["client"] = spec["client"]
            if spec.get("packs") is not None:
                entry["packs"] = spec["packs"]
            _deep_update(entry["options"], spec.get("options") or {})
    default = local.get("default_remote") or shared.get("default_remote")
    link_value = (local.get("cache") or {}).get("link") or (shared.get("cache") or {}).get("link")
    link = tuple([link_value] if isinstance(link_value, str) else link_value or DEFAULT_LINK)
    hooks = {**(shared.get("hooks") or {}), **(local.get("hooks") or {})}
    return Config(
        remotes={
            n: _remote(
                n, e, (shared.get("remotes") or {}).get(n), (local.get("remotes") or {}).get(n)
            )
            for n, e in remotes.items()
            if e["url"]
        },
        default_remote=default,
        link=link,
        stale_runs=str(hooks.get("stale_runs") or "block"),
        post_checkout=bool(hooks.get("post_checkout")),
    )


def _remote(
    name: str,
    merged: dict[str, Any],
    shared: Mapping[str, Any] | None,
    local: Mapping[str, Any] | None,
) -> RemoteConfig:
    local = local or {}
    return RemoteConfig(
        name,
        merged["url"],
        merged["options"],
        merged["client"],
        merged["packs"],
        committed=fingerprint(shared) if shared else None,
        pinned=local.get("pinned"),
        local_url=bool(local.get("url")),
        local_settings=bool(local.get("url") or local.get("options")),
    )


# -- binding local settings to the committed ones -----------------------------------
#
# The committed file comes from other people (a pull request); the local file holds this
# machine's credentials. Options merge key by key, so without a check a change to the
# committed endpoint_url (or URL, proxy, ...) alone would send the local credentials,
# and the data, wherever the change says. So the local file pins a fingerprint of the
# committed settings its own settings were made with, and a remote whose committed
# settings no longer match is not used.

_PIN = re.compile(r"blake3:[0-9a-f]{64}")
# The settings that decide where a remote's bytes and credentials go: all of them but
# 'packs' (any option can redirect: endpoint_url, proxies, host, account_name, ...).
_DESTINATION_KEYS = ("url", "options", "client")


def fingerprint(spec: Mapping[str, Any]) -> str:
    """The pin of a remote's committed settings (``blake3:<hex>``)."""
    chosen = {k: spec.get(k) for k in _DESTINATION_KEYS}
    text = json.dumps(chosen, sort_keys=True, separators=(",", ":"), default=str)
    return "blake3:" + hashing.hash_bytes(text.encode("utf-8", "surrogatepass"))


def is_relative_folder(url: str) -> bool:
    """A folder URL that is relative or starts with '~': it names a different place for
    each clone and user, so only this machine's own settings may use it."""
    path = re.sub(r"^(file|local)://", "", url)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path):
        return False
    return path.startswith("~") or not path.startswith("/")


def binding(remote: RemoteConfig) -> str:
    """How far the committed file may decide where ``remote`` goes:

    - ``"ok"``: nothing local depends on the committed settings, or they are the pinned ones;
    - ``"unpinned"``: local settings made before pins existed (pin them now);
    - ``"changed"``: the committed settings changed since the local ones were made;
    - ``"folder"``: a committed relative or '~' folder URL this machine never accepted.
    """
    if remote.committed is None or remote.pinned == remote.committed:
        return "ok"
    if not remote.local_url and is_relative_folder(remote.url):
        return "folder"
    if not remote.local_settings:
        return "ok"
    return "unpinned" if remote.pinned is None else "changed"


def _deep_update(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Merge nested option mappings key by key (local credentials beside shared endpoints)."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def ordered(doc: Mapping[str, Any]) -> dict[str, Any]:
    return model.ordered(doc, KEYS)
