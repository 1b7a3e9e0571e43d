"""A DVC stage as a gitrelstate stage: its name, its command as an argv, its definition,
and whether what ``dvc.lock`` says still holds (then it is imported up to date)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from gitrelstate.dvcimport.dvcyaml import Stage, TopPlot, join
from gitrelstate.guard import executables
from gitrelstate.runs.spec import StageSpec

_INVALID = re.compile(r"[^A-Za-z0-9._-]")
# A line using any of these needs a shell; others split into the same words by shlex.
_SHELL_CHARS = re.compile(r"[|&;<>()$`\\*?\[\]#~{}!\n]")


def stage_names(stages: Sequence[Stage], taken: set[str]) -> dict[str, str]:
    """DVC addressing -> a gitrelstate stage name (``stats@train`` -> ``stats.train``,
    ``sub/dvc.yaml:train`` -> ``sub_train``), unique among themselves and ``taken``."""
    found: dict[str, str] = {}
    used = set(taken)
    for stage in stages:
        folder = stage.dvcfile.rpartition("/")[0]
        base = (folder.replace("/", "_") + "_" if folder else "") + stage.name.replace("@", ".")
        name = _INVALID.sub("_", base)[:100]
        if not name[:1].isalnum():
            name = ("s" + name)[:100]
        candidate, n = name, 2
        while candidate in used:
            candidate = f"{name[:95]}-{n}"
            n += 1
        used.add(candidate)
        found[stage.addressing] = candidate
    return found


def shell() -> str:
    """The shell an imported multi-word command runs in (DVC uses $SHELL: bash where
    there is one)."""
    return "bash" if executables.which("bash") else "sh"


def argv_of(cmd: str | list[str]) -> tuple[str, ...]:
    """DVC's ``cmd`` as an argv: a plain line as its words; a line that needs a shell
    through one; several lines (or a list) each in a subshell, stopping at the first
    that fails, as DVC runs them one by one."""
    lines = (
        [cmd]
        if isinstance(cmd, str) and "\n" not in cmd.strip()
        else (cmd if isinstance(cmd, list) else cmd.splitlines())
    )
    lines = [line.strip() for line in lines if line.strip()]
    if len(lines) == 1:
        line = lines[0]
        if not _SHELL_CHARS.search(line):
            try:
                words = shlex.split(line)
            except ValueError:
                words = []
            if words and "=" not in words[0]:
                return tuple(words)
        return (shell(), "-c", line)
    script = "set -e\n" + "\n".join(f"( {line}\n)" for line in lines)
    return (shell(), "-c", script)


def definition(
    stage: Stage, name: str, plots: Mapping[str, Mapping[str, Any]], argv: tuple[str, ...]
) -> StageSpec:
    """The gitrelstate definition of a DVC stage (outputs with ``cache: false`` are
    kept in Git, as in the DVC project; plots keep DVC's properties)."""
    outs = [o.path for o in stage.outs if o.kind != "metric"]
    metrics = [o.path for o in stage.outs if o.kind == "metric"]
    return StageSpec(
        name=name,
        command=argv,
        wdir=stage.wdir,
        deps=tuple(dict.fromkeys(d for d, _ in stage.deps)),
        outs=tuple(outs),
        metrics=tuple(metrics),
        params=tuple((p.path, p.keys or ()) for p in stage.params),
        git_outs=tuple(o.path for o in stage.outs if not o.cache),
        plots={p: dict(v) for p, v in plots.items()},
        frozen=stage.frozen,
        always_changed=stage.always_changed,
        imported={
            "from": "dvc",
            "name": stage.addressing,
            "dvcfile": stage.dvcfile,
            **({"desc": stage.desc} if stage.desc else {}),
        },
    )


def stage_plots(stage: Stage, top: Sequence[TopPlot]) -> dict[str, dict[str, Any]]:
    """Plot files of ``stage`` with their properties: its own ``plots:`` entries, and
    the top-level plots of its dvc.yaml that draw one of its outputs."""
    found: dict[str, dict[str, Any]] = {
        o.path: dict(o.props) for o in stage.outs if o.kind == "plot"
    }
    made = {o.path for o in stage.outs}
    folder = stage.dvcfile.rpartition("/")[0]
    for plot in top:
        if plot.dvcfile != stage.dvcfile:
            continue
        props = dict(plot.props)
        y = props.get("y")
        if isinstance(y, dict):  # {file: field | [fields]}: a named plot over files
            x = props.get("x")
            for file, fields in y.items():
                path = join(folder, str(file), plot.dvcfile)
                if path in made:
                    entry = {k: v for k, v in props.items() if k not in ("x", "y")}
                    entry["y"] = fields
                    if isinstance(x, dict):
                        if file in x:
                            entry["x"] = x[file]
                    elif x is not None:
                        entry["x"] = x
                    entry["name"] = plot.id
                    found[path] = {**found.get(path, {}), **entry}
            continue
        path = join(folder, plot.id, plot.dvcfile)
        if path in made:
            found[path] = {**found.get(path, {}), **props}
    return found
