"""``export --format model-card``: a Markdown model card (CommonMark + GFM tables).

Everything comes from the state file; text a user wrote (messages, names, paths, values)
is escaped so it cannot change the card's structure, and commands are shown in fenced
blocks that their content cannot close.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any, Final

from gitrelstate.exports import common
from gitrelstate.exports.digests import Digests
from gitrelstate.exports.source import ExportState, Previous
from gitrelstate.guard.text import md, term

#: Shown by name in the environment section when installed (every package is counted).
KEY_PACKAGES: Final = frozenset(
    {
        *("numpy", "scipy", "pandas", "polars", "pyarrow", "scikit-learn", "statsmodels"),
        *("xgboost", "lightgbm", "catboost", "torch", "torchvision", "torchaudio"),
        *("tensorflow", "keras", "jax", "jaxlib", "flax", "transformers", "datasets"),
        *("tokenizers", "accelerate", "onnx", "onnxruntime", "mlflow"),
    }
)
# Values that render as themselves in Markdown (no '_', '*', '@', brackets, '<', '&'...):
# printed as they are. Anything else goes through guard.text.md, which makes every
# punctuation character a character reference (inert, but hard to read in the raw file).
_PLAIN = re.compile(r"[A-Za-z0-9 .,:/+-]*")
_CODE = re.compile(r"[A-Za-z0-9:._/@+-]*")


def _flat(value: Any) -> str:
    return " ".join(common.text_value(value).split())


def text(value: Any) -> str:
    """A value for a table cell or after a label: inert, on one line."""
    flat = _flat(value)
    return flat if _PLAIN.fullmatch(flat) else md(flat)


def paragraph(value: str) -> str:
    """Free text at the start of a line, where a digit or '-' could open a list."""
    flat = _flat(value)
    if _PLAIN.fullmatch(flat) and flat[:1].isalpha():
        return flat
    shown = md(flat)  # md() keeps '-', which opens a list at the start of a line
    return "&#45;" + shown[1:] if shown.startswith("-") else shown


def code(value: str) -> str:
    """Inline code for machine values (ids, hex, paths, names); escaped text otherwise."""
    return f"`{value}`" if _CODE.fullmatch(value) else text(value)


def fenced(lines: list[str], info: str = "sh") -> list[str]:
    """A fenced block longer than any backtick run inside it (so nothing closes it early);
    control and invisible characters shown as escapes."""
    lines = [term(line, one_line=True) for line in lines]
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *lines, fence]


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit} ({n} bytes)"
        value /= 1024
    raise AssertionError("unreachable")


def _table(head: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    marks = ["---:" if c in right else "---" for c in range(len(head))]
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def render(state: ExportState, digests: Digests, previous: Previous | None) -> str:
    model = state.model
    title = (model.path or model.reference or state.name) if model else state.name
    out = [f"# Model card: {text(title)}", ""]
    if state.message:
        out += [paragraph(state.message), ""]
    out += _details(state, digests)
    out += _data(state)
    out += _procedure(state)
    out += _evaluation(state, previous)
    out += _environment(state.environment)
    out += _reproduce(state, digests)
    return "\n".join(out).rstrip("\n") + "\n"


def _details(state: ExportState, digests: Digests) -> list[str]:
    rows = [
        [state.kind, code(state.name)],
        ["state id", code(state.state_id)],
        ["created" if state.kind == "release" else "finished", text(state.created)],
    ]
    author = state.author
    if author.get("name") or author.get("email"):
        email = str(author.get("email") or "")
        rows.append(
            ["author", " ".join(filter(None, [text(author.get("name") or ""), code(email)]))]
        )
    model = state.model
    art = state.model_artifact
    if art is not None:
        algo, hex_ = digests.of(art)
        rows += [
            ["model", code(art.path)],
            ["content id", code(art.hash)],
            [algo, code(hex_)],
            ["size", size(art.size) + (f", {art.nfiles} files" if art.nfiles is not None else "")],
        ]
        producer = state.model_run()
        if producer is not None:
            rows.append(["trained by stage", code(producer.name)])
    elif model is not None and model.reference:
        rows.append(["model", text(model.reference)])
    commit = state.code.get("commit")
    where = code(str(commit)) if commit else "no commit"
    if state.code.get("branch"):
        where += f" on {text(state.code['branch'])}"
    if state.code.get("dirty"):
        where += " (uncommitted changes, diff " + code(str(state.code.get("diff") or "")) + ")"
    rows.append(["code", where])
    if state.repository:
        rows.append(["repository", text(state.repository)])
    return ["## Model details", "", *_table(["", ""], rows)]


def _data(state: ExportState) -> list[str]:
    """The data the model was trained from (its lineage's inputs), then the rest."""
    model = state.model_artifact
    lineage = state.lineage(model.path) if model is not None else list(state.runs)
    inputs = {d.path for run in lineage for d in run.deps}
    trained: list[list[str]] = []
    other: list[list[str]] = []
    for art in state.data:
        if model is not None and art.path == model.path:
            continue
        run = state.producer(art.path)
        role = f"made by stage {code(run.name)}" if run is not None else "source"
        files = str(art.nfiles) if art.nfiles is not None else ""
        row = [code(art.path), role, code(art.hash), size(art.size), files]
        (trained if art.path in inputs or not lineage else other).append(row)
    head = ["path", "role", "content id", "size", "files"]
    out = []
    if trained:
        out += ["## Training data", "", *_table(head, trained, right=(3, 4))]
    if other:
        out += ["## Other data in this state", "", *_table(head, other, right=(3, 4))]
    return out


def _procedure(state: ExportState) -> list[str]:
    if not state.runs:
        return []
    out = ["## Training procedure", ""]
    for run in state.runs:
        out += [f"### Stage {text(run.name)}", ""]
        upstream = sorted({p.name for d in run.deps if (p := state.producer(d.path))})
        facts = [
            f"- ran from {text(run.started)} to {text(run.finished)} ({run.duration:.3f} s)",
            f"- working folder {code(run.wdir)}",
        ]
        if upstream:
            facts.append("- after " + ", ".join(code(name) for name in upstream))
        out += [*facts, ""]
        out += [*fenced([shlex.join(run.command)]), ""]
        params = [
            [code(file), code(key), text(value)]
            for file, values in sorted(run.params.items())
            for key, value in sorted(values.items())
        ]
        if params:
            out += _table(["params file", "key", "value"], params)
    return out


def _evaluation(state: ExportState, previous: Previous | None) -> list[str]:
    metrics = state.metrics()
    rows = []
    for file, values in sorted(metrics.items()):
        for key, value in sorted(values.items()):
            row = [code(file), code(key), text(value)]
            if previous is not None:
                before = previous.metrics.get(file, {}).get(key)
                row += ["" if before is None else text(before), _delta(before, value)]
            rows.append(row)
    if not rows:
        return []
    head = ["metrics file", "metric", "value"]
    intro = []
    if previous is not None:
        head += [f"previous ({text(previous.name)})", "delta"]
        intro = [f"Compared with release {code(previous.name)}, the one made before it.", ""]
    return ["## Evaluation", "", *intro, *_table(head, rows)]


def _delta(before: Any, after: Any) -> str:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if before is None:
        return "new"
    if number(before) and number(after):
        return f"{after - before:+.6g}"
    return "" if before == after else "changed"


def _environment(env: Mapping[str, Any]) -> list[str]:
    if not env:
        return []
    interp = env.get("interpreter") or {}
    plat = env.get("platform") or {}
    hardware = env.get("hardware") or {}
    cpu = hardware.get("cpu") or {}
    system = " ".join(str(plat.get(k, "")) for k in ("system", "release", "machine"))
    facts = [
        f"- interpreter: {text(interp.get('implementation', ''))} "
        f"{text(interp.get('version', ''))}",
        f"- platform: {text(system)}",
    ]
    if cpu:
        count = f", {cpu['count']} cores" if isinstance(cpu.get("count"), int) else ""
        facts.append(f"- CPU: {text(cpu.get('model') or 'unknown')}{count}")
    if hardware.get("memory_bytes"):
        facts.append(f"- memory: {size(int(hardware['memory_bytes']))}")
    for gpu in hardware.get("gpus") or []:
        info = gpu if isinstance(gpu, dict) else {"name": gpu}
        extras = ", ".join(f"{k} {text(info[k])}" for k in ("driver", "cuda") if info.get(k))
        name = info.get("name") or "unknown"
        facts.append(f"- GPU: {text(name)}" + (f" ({extras})" if extras else ""))
    if not hardware.get("gpus"):
        facts.append("- GPU: none recorded")
    found = common.packages(env)
    shown = [p for p in found if p.name in KEY_PACKAGES or p.vcs_url or p.editable or p.local]
    out = ["## Environment", "", *facts, ""]
    if found:
        rows = [[code(p.name), text(p.version or ""), _source(p)] for p in shown]
        out += [f"{len(found)} packages installed; the ones that matter most here:", ""]
        out += _table(["package", "version", "installed from"], rows) if rows else []
    variables = env.get("variables") or {}
    if variables:
        rows = [
            [code(name), "(redacted)" if isinstance(v, dict) else text(v)]
            for name, v in sorted(variables.items())
        ]
        out += _table(["variable", "value"], rows)
    return out


def _source(pkg: common.Package) -> str:
    if pkg.vcs_url:
        return text(pkg.vcs_url)
    if pkg.editable:
        return "editable local folder"
    return "local file or folder" if pkg.local else "package index"


def _reproduce(state: ExportState, digests: Digests) -> list[str]:
    ref = f"{state.kind}:{state.name}"
    flag = f"--{state.kind} {state.name}"
    steps = [
        (f"git relstate fetch {flag}", "the objects it binds, from the remote"),
        (f"git relstate checkout {flag}", "its data state in the work tree"),
        (f"git relstate reproduce {ref}", "re-run it at its commit, compare the outputs"),
        ("git relstate verify", "every state_id and object re-hashed"),
    ]
    art = state.model_artifact
    if art is not None and art.nfiles is None:
        steps.append((f"sha256sum {shlex.quote(art.path)}", f"prints {digests.of(art)[1]}"))
    steps.append((f"git relstate export {ref} --format slsa", "provenance to check and sign"))
    width = max(len(command) for command, _ in steps)
    lines = [f"{command:<{width}}  # {why}" for command, why in steps]
    intro = "Check out the same state, run it again and check the outputs:"
    return ["## Reproduce and verify", "", intro, "", *fenced(lines)]
