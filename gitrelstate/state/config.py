"""``.relstate/config.yaml`` (committed) and ``config.local.yaml`` (per machine)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


def is_secret_option(name: str) -> bool:
    return bool(SECRET_OPTION.search(name.rsplit(".", 1)[-1]))


def secret_option_names(options: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of secret-looking options, nested mappings included."""
    found = []
    for key, value in options.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.extend(secret_option_names(value, dotted + "."))
        elif is_secret_option(str(key)):
            found.append(dotted)
    return found


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
            n: RemoteConfig(n, e["url"], e["options"], e["client"], e["packs"])
            for n, e in remotes.items()
            if e["url"]
        },
        default_remote=default,
        link=link,
        stale_runs=str(hooks.get("stale_runs") or "block"),
        post_checkout=bool(hooks.get("post_checkout")),
    )


def _deep_update(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Merge nested option mappings key by key (local credentials beside shared endpoints)."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def ordered(doc: Mapping[str, Any]) -> dict[str, Any]:
    return model.ordered(doc, KEYS)
