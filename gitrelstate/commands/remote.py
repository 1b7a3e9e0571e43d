"""``git relstate remote add|list|remove|default``: manage fsspec remotes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.remotes.remote import pin, redact_url, save_config_doc
from gitrelstate.repo import Repo
from gitrelstate.state import config as config_model
from gitrelstate.state import yamlio


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE as a YAML scalar (so ``anon=true`` is a bool)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RelstateError(
            f"option {text!r} is not KEY=VALUE", hint="e.g. -o endpoint_url=http://127.0.0.1:8333"
        )
    value: Any = raw
    if raw.strip():
        try:
            parsed = yamlio.loads(raw, f"option {key}")
        except RelstateError:
            parsed = raw
        # Only scalars: a value like '[a]' or 'a: b' stays the literal string.
        if isinstance(parsed, (bool, int, float)) or parsed is None:
            value = parsed
    return key, value


def _set_dotted(target: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        node = target.setdefault(part, {})
        if not isinstance(node, dict):
            raise RelstateError(f"option {key!r} conflicts with a plain option {part!r}")
        target = node
    target[parts[-1]] = value


def _save(repo: Repo, doc: dict[str, Any], local: bool) -> None:
    save_config_doc(repo, doc, local=local)


def remote_add(
    repo: Repo,
    name: str,
    url: str,
    options: Sequence[str],
    *,
    default: bool,
    local: bool,
    force: bool,
    client: str | None = None,
) -> int:
    config_model.check_remote_name(name)
    if not url.strip():
        raise RelstateError("the remote URL is empty")
    parsed = [parse_option(o) for o in options]
    opts: dict[str, Any] = {}
    for key, value in parsed:
        _set_dotted(opts, key, value)
    if not local:
        secrets = config_model.secret_option_names(opts)
        if secrets:
            raise RelstateError(
                f"refusing to write secret option(s) {', '.join(secrets)} to the committed "
                ".relstate/config.yaml (by their name, their value, or because HTTP headers "
                "carry credentials)",
                hint="store credentials per machine: add --local (writes .relstate/"
                "config.local.yaml, which is git-ignored), or use your cloud credential chain",
            )
        if redact_url(url) != url:
            raise RelstateError(
                "refusing to write a URL with embedded credentials to the committed config "
                "(user info, or a token or signature in its query)",
                hint="remove them from the URL and use --local options instead",
            )
    with repo.locked():
        doc = repo.read_config_doc(local=local)
        remotes = doc.setdefault("remotes", {}) or {}
        doc["remotes"] = remotes
        if name in remotes and not force:
            raise RelstateError(
                f"remote '{name}' already exists",
                hint="use --force to replace it, or 'git relstate remote remove' first",
            )
        spec: dict[str, Any] = {"url": url}
        if local and "pinned" in (remotes.get(name) or {}):
            spec["pinned"] = remotes[name]["pinned"]
        if opts:
            spec["options"] = opts
        if client is not None:
            spec["client"] = client
        remotes[name] = spec
        first = repo.config.default_remote is None
        if default or first:
            doc["default_remote"] = name
        _save(repo, doc, local)
        _bind(repo, name, url, local=local)
    where = "config.local.yaml" if local else "config.yaml"
    ui.echo(f"added remote '{name}' -> {redact_url(url)} in .relstate/{where}")
    if default or first:
        ui.echo(f"'{name}' is the default remote")
    return 0


def _bind(repo: Repo, name: str, url: str, *, local: bool) -> None:
    """This user set the remote up: bind the local settings to the committed ones as they
    are now (a later change to the committed ones is refused until confirmed)."""
    has_local = bool((repo.read_config_doc(local=True).get("remotes") or {}).get(name))
    if local or has_local or config_model.is_relative_folder(url):
        pin(repo, name)


def _masked(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` as shown: secret values (by name, by value, headers) as ``***``."""
    secret = set(config_model.secret_option_names(options))

    def walk(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, Mapping):
                out[key] = walk(value, dotted + ".")
            else:
                out[key] = "***" if dotted in secret else value
        return out

    return walk(options, "")


def remote_list(repo: Repo) -> int:
    config = repo.config
    if not config.remotes:
        ui.result("No remotes (add one with 'git relstate remote add NAME URL').")
        return 0
    for name, remote in sorted(config.remotes.items()):
        mark = "*" if name == config.default_remote else " "
        opts = _masked(dict(remote.options))
        shown = " ".join(f"{k}={v}" for k, v in opts.items())
        state = config_model.binding(remote)
        note = {
            "changed": "\t(not used: its committed settings changed, see 'git relstate push')",
            "folder": "\t(not used: a committed relative folder, see 'git relstate push')",
        }.get(state, "")
        ui.result(f"{mark} {name}\t{redact_url(remote.url)}{chr(9) + shown if shown else ''}{note}")
    return 0


def remote_remove(repo: Repo, name: str) -> int:
    removed = False
    with repo.locked():
        for local in (False, True):
            doc = repo.read_config_doc(local=local)
            changed = False
            if name in (doc.get("remotes") or {}):
                del doc["remotes"][name]
                if not doc["remotes"]:
                    del doc["remotes"]
                changed = removed = True
            if doc.get("default_remote") == name:
                del doc["default_remote"]
                changed = True
            if changed:
                _save(repo, doc, local)
    if not removed:
        raise RelstateError(f"no remote named '{name}'", hint="see 'git relstate remote list'")
    ui.echo(f"removed remote '{name}'")
    return 0


def remote_default(repo: Repo, name: str, *, local: bool) -> int:
    if name not in repo.config.remotes:
        raise RelstateError(f"no remote named '{name}'", hint="see 'git relstate remote list'")
    with repo.locked():
        doc = repo.read_config_doc(local=local)
        doc["default_remote"] = name
        _save(repo, doc, local)
    ui.echo(f"'{name}' is now the default remote")
    return 0
