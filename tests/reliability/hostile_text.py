"""A repository whose names and values were chosen by an attacker, for the Markdown and
terminal injection tests (test_threat_markdown.py, test_threat_terminal.py).

Every place a pull request controls text that ``diff``, ``show``, ``list`` or ``status``
print carries a payload: params keys (the printable payloads: state files refuse other
keys) and values, metrics keys, data file names inside a tracked folder, committed file
names (the code layer), commit subjects, a branch name (a side's label) and a release's
model reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gitrelstate.state.release import compute_state_id
from tests.helpers.cli import git, make_repo

ESC = "\x1b"
# Markdown and HTML that would become a link, an image, a heading, a mention, an
# element or a new table row if shown raw (the audit's and a few more).
MARKDOWN = (
    "![px](https://evil.example/track.png)",
    "[c](https:/evil.example)",
    "@octocat",
    "cr\r| injected | row |\r### Heading",
    "<img src=x onerror=alert(1)>",
    "https://evil.example/autolink",
    "a@evil.example",
)
MARKDOWN_MORE = (
    "[click](javascript:alert(1))",
    "`` `</code><b>x</b>` ``",
    "</code></td></tr></table><h1>x</h1>",
    "<details><summary>open",
    "</details></details>",
    "www.evil.example",
    "<https://evil.example>",
    "[ref][r]\n\n[r]: https://evil.example",
    "x\n\n# H1\n",
    "| a | b |\n| --- | --- |",
    "*emph* _em_ ~~strike~~ **bold**",
    "&lt;b&gt; &#64;octocat &#x3C;i>",
    "\\",
    "trailing\\",
    "two spaces  \nbreak",
    "@org/team #123 GH-1 :smile:",
    "$x^2$ math",
    "<!-- open comment",
    "]]> <![CDATA[",
    "<script>alert(1)</script>",
    "\u2028line sep\u2029para sep\x85nel",
    "\x0bvt\x0cff\ttab",
    "xmpp:a@evil.example/r mailto:b@evil.example",
)
# What would drive a terminal or hide text: escapes, OSC 8 hyperlinks, CR overwrites,
# C1 controls, bidi overrides and isolates, zero-width and other invisible characters.
TERMINAL = (
    f"osc{ESC}]8;;https://evil.example\x07CLICK ME{ESC}]8;;\x07",
    f"clear{ESC}[2J{ESC}[H screen cleared",
    "real value\rFAKE VALUE",
    "bidi\u202egpj.exe",
    "zero\u200bwidth",
)
TERMINAL_MORE = (
    f"title{ESC}]0;owned\x07",
    f"{ESC}[31mRED{ESC}[0m",
    "csi\x9b2J c1",
    "nel\x85next",
    "del\x7fx",
    "bell\x07",
    "backspace\x08\x08xx",
    "isolate\u2066ltr\u2069 \u2067rtl\u2069 \u2068fsi",
    "lre\u202a lro\u202d rlm\u200f lrm\u200e alm\u061c",
    "zwj\u200d zwnj\u200c wj\u2060 bom\ufeff shy\u00ad",
    "hangul\u3164filler\u115f",
    "tag\U000e0041\U000e007f",
)


@dataclass(frozen=True)
class HostileWorld:
    repo: Path
    payloads: tuple[str, ...]
    branch: str  # a branch whose name is hostile (a side's label)
    reference: str  # the hostile model reference of release r2


def _file_name(payload: str) -> str:
    """A payload as a relative file path (no empty, '.' or '..' components)."""
    parts = [p for p in payload.replace("\0", "0").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "empty"


def code_path(i: int, payload: str) -> str:
    """Where the ``i``-th payload is a committed file name (the code layer)."""
    return f"src/c{i}/{_file_name(payload)}"


def data_path(i: int, payload: str) -> str:
    """Where it is a file name inside the tracked folder ``data``; ``track`` refuses
    control characters and backslashes in names, so those become '_' (bidi and
    zero-width characters stay)."""
    name = "".join(
        c if (c.isprintable() and c != "\\") or c in "\u202e\u200b" else "_" for c in payload
    )
    return f"data/d{i}/{_file_name(name)}"


def _run(repo: Path, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gitrelstate", *args],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"{args}: {proc.stderr}"


@contextmanager
def isolated(base: Path) -> Iterator[None]:
    """A module-wide home and git config (the per-test isolation is function scoped)."""
    mp = pytest.MonkeyPatch()
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n\ttemplateDir =\n"
    )
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    try:
        yield
    finally:
        mp.undo()


MAKE = """\
import json
json.dump(json.load(open("metrics-src.json")), open("metrics.json", "w"))
"""


def build(base: Path, payloads: Sequence[str]) -> HostileWorld:
    """Release r1 (clean), then a pull request that puts ``payloads`` everywhere, released
    as r2 with a hostile model reference. Run inside :func:`isolated`."""
    repo = make_repo(base / "repo")
    (repo / "params.json").write_text(json.dumps({"lr": 0.1}))
    (repo / "metrics-src.json").write_text(json.dumps({"acc": 0.9}))
    (repo / "make.py").write_text(MAKE)
    (repo / "data").mkdir()
    (repo / "data" / "a.csv").write_text("1\n")
    _run(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    train = ["run", "-n", "train", "-d", "data", "-d", "make.py", "-p", "params.json"]
    train += ["-m", "metrics.json", "--", sys.executable, "make.py"]
    _run(repo, *train)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "train")
    _run(repo, "release", "r1", "--model", "models:/m/1")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release r1")

    # The pull request. State files refuse mapping keys that are not printable (class 7),
    # so those payloads are values only.
    keys = [p for p in payloads if p.isprintable()]
    params = {"lr": 0.2} | {p: p for p in keys} | {f"v{i}": p for i, p in enumerate(payloads)}
    (repo / "params.json").write_text(json.dumps(params))
    metrics = {"acc": 0.95} | {p: i for i, p in enumerate(keys)}
    (repo / "metrics-src.json").write_text(json.dumps(metrics))
    for i, payload in enumerate(payloads):
        for path in (repo / data_path(i, payload), repo / code_path(i, payload)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{i}\n")
    _run(repo, "track", "data")
    subject = "feat: " + " ".join(payloads)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", subject)
    _run(repo, "run", "train")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", subject)
    _run(repo, "release", "r2", "--model", "models:/m/2")
    # The attacker edits the release file by hand and recomputes its id, as a PR can.
    reference = "models:/x " + " ".join(payloads)
    path = repo / ".relstate" / "releases" / "r2.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["model"] = {"reference": reference}
    doc["state_id"] = compute_state_id(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", subject)
    # git refuses control characters and some punctuation in branch names, not the rest.
    branch = "pr/@octocat]<img>(x)\u202e!"
    git(repo, "branch", branch)
    return HostileWorld(repo, tuple(payloads), branch, reference)


@contextmanager
def hostile_world(base: Path, payloads: Sequence[str]) -> Iterator[HostileWorld]:
    """:func:`build` with its own home folder and git config."""
    with isolated(base):
        yield build(base, payloads)
