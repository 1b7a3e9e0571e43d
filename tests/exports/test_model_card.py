"""export --format model-card: Markdown that renders (CommonMark + tables) with every
section, the model's digests, metric deltas against the previous release, and user text
that cannot turn into markup."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

from markdown_it import MarkdownIt

from tests.exports.conftest import Project
from tests.helpers.cli import Runner, git, make_repo

SECTIONS = [
    "Model details",
    "Training data",
    "Other data in this state",
    "Training procedure",
    "Evaluation",
    "Environment",
    "Reproduce and verify",
]


def _card(run: Runner, repo: Path, ref: str) -> str:
    return run(repo, "export", ref, "--format", "model-card").out


def _html(markdown: str) -> str:
    html: str = MarkdownIt("commonmark").enable("table").render(markdown)
    return html


def test_sections_render(run: Runner, project: Project) -> None:
    card = _card(run, project.repo, "v2")
    html = _html(card)
    assert re.findall(r"<h2>(.*?)</h2>", html) == SECTIONS
    assert re.findall(r"<h3>(.*?)</h3>", html) == ["Stage prepare", "Stage train"]
    assert html.count("<table>") == 7  # details, data x2, params, metrics, packages, variables
    assert html.startswith("<h1>Model card: model.json</h1>")


def test_model_details_and_how_to_verify(run: Runner, project: Project) -> None:
    card = _card(run, project.repo, "v2")
    release = json.loads(run(project.repo, "show", "v2", "--json").out)
    sha = hashlib.sha256((project.repo / "model.json").read_bytes()).hexdigest()
    assert f"| sha256 | `{sha}` |" in card
    assert f"| state id | `{release['state_id']}` |" in card
    assert f"| content id | `{release['model']['hash']}` |" in card
    assert "| trained by stage | `train` |" in card
    assert "| author | Ada Lovelace `ada@example.invalid` |" in card
    assert f"| code | `{release['code']['commit']}` on main |" in card
    assert "| repository | https://github.com/acme/churn.git |" in card
    assert "| `data/raw` | source |" in card and "| 3 |" in card
    assert "sha256sum model.json" in card and f"# prints {sha}" in card
    assert "git relstate reproduce release:v2" in card
    assert "| `API_TOKEN` | (redacted) |" in card and "| `SEED` | 2 |" in card
    # A value with markup characters is escaped (and its password was redacted first).
    hub = "| `params.json` | `train.hub` | https&#58;&#47;&#47;&#42;&#42;&#42;&#64;<!-- -->hub&#46;"
    assert hub in card


def test_metric_deltas_against_the_previous_release(run: Runner, project: Project) -> None:
    v1 = json.loads(run(project.repo, "show", "v1", "--json").out)
    old = next(r for r in v1["runs"] if r["name"] == "train")["metrics"]["metrics.json"]
    new = json.loads((project.repo / "metrics.json").read_text())
    card = _card(run, project.repo, "v2")
    assert "Compared with release `v1`, the one made before it." in card
    assert "| metrics file | metric | value | previous (v1) | delta |" in card
    delta = new["intercept"] - old["intercept"]
    values = f"{new['intercept']} | {old['intercept']} | {delta:+.6g}"
    assert f"| `metrics.json` | `intercept` | {values} |" in card
    first = _card(run, project.repo, "v1")
    assert "previous (" not in first and "| `metrics.json` | `accuracy` |" in first


def test_user_text_cannot_become_markup(run: Runner, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", run)
    (repo / "make.py").write_text(
        "import json\nopen('model.bin', 'wb').write(b'm')\n"
        "json.dump({'note': '<img src=x onerror=alert(1)> | [a](javascript:alert(2))'},"
        " open('metrics.json', 'w'))\n"
    )
    (repo / "params.yaml").write_text("lr: '**bold** `tick` @someone <b>x</b>'\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "make")
    cmd = [sys.executable, "make.py", "```", "x`y", "rtl\u202eexe.txt", "\x1b[31mred"]
    run(repo, "run", "-n", "make", "-d", "make.py", "-p", "params.yaml", "-o", "model.bin",
        "-m", "metrics.json", "--", *cmd)  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "run")
    message = "1. <script>alert(3)</script> | ![t](https://evil.example/t.png) # x\n## y"
    run(repo, "release", "r1", "--model", "model.bin", "-m", message)
    card = _card(run, repo, "r1")
    html = _html(card)
    for tag in ("<script", "<img", "<a ", "<b>", "<strong>", "<ol", "<em>"):
        assert tag not in html, tag
    assert re.findall(r"<h2>(.*?)</h2>", html)[0] == "Model details"  # no injected heading
    # The command is shown whole, in a block its backticks cannot close.
    assert '<pre><code class="language-sh">' in html and "x`y" in html
    rows = [line for line in card.splitlines() if line.startswith("| `metrics.json` | `note`")]
    assert len(rows) == 1 and rows[0].count(" | ") == 2  # still three cells
    # Control and bidi characters are visible escapes, in the file as on the terminal.
    assert "\u202e" not in card and "\x1b" not in card
    assert "rtl\\u202eexe.txt" in card and "\\u001b[31mred" in card
    run(repo, "export", "r1", "--format", "model-card", "-o", "card.md")
    assert (repo / "card.md").read_text() == card
    for fmt in ("slsa", "cyclonedx", "openlineage"):
        out = run(repo, "export", "r1", "--format", fmt).out
        assert out.isascii()
        run(repo, "export", "r1", "--format", fmt, "-o", "x.json")
        assert (repo / "x.json").read_text() == out


def test_run_card_without_a_release(run: Runner, project: Project, tmp_path: Path) -> None:
    card = _card(run, project.repo, "train")
    html = _html(card)
    assert html.startswith("<h1>Model card: train</h1>")
    assert "| run | `train` |" in card and "git relstate reproduce run:train" in card
    assert "previous (" not in card
    # A release directory that does not parse leaves the deltas out, with a warning.
    copy = tmp_path / "copy"
    shutil.copytree(project.repo, copy, symlinks=True)
    (copy / ".relstate" / "releases" / "v0.yaml").write_text("relstate: 1\nkind: nonsense\n")
    result = run(copy, "export", "v2", "--format", "model-card")
    assert "previous (" not in result.out and "warning: metric deltas left out" in result.err
