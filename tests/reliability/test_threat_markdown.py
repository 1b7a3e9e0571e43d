"""``diff --md`` is safe to post as a pull-request comment (docs/reliability.md, threat
model, class 4): whatever names and values a pull request chooses, the rendered comment
holds no link, image, heading, mention or HTML element but ours, no extra table row or
cell, and every ``<details>`` is closed.

The output is rendered the way GitHub renders a comment (CommonMark, tables,
strikethrough, raw HTML on; markdown-it-py) and the HTML is inspected. The default run
builds one hostile repository with a sample of payloads and fuzzes the escaping;
``pytest -m slow`` uses every payload and fuzzes whole documents.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from gitrelstate.diff.document import StateDiff
from gitrelstate.diff.render_markdown import MARKER, render_markdown
from gitrelstate.diff.render_markdown import _markdown as markdown_lines
from gitrelstate.guard.text import md, term
from tests.helpers.cli import relstate
from tests.reliability.hostile_text import (
    MARKDOWN,
    MARKDOWN_MORE,
    TERMINAL,
    TERMINAL_MORE,
    HostileWorld,
    code_path,
    data_path,
    hostile_world,
)

FAST = 150
MANY = 3000

GITHUB = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# The only elements the renderer writes (markdown-it adds thead/tbody and p).
OURS = {"h3", "p", "table", "thead", "tbody", "tr", "th", "td", "details", "summary"}
OURS |= {"b", "strong", "em", "code", "ul", "li"}
BREAKS = str.maketrans({c: " " for c in "\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"})


class Inspected(HTMLParser):
    """The rendered comment, element by element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.depth: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.rows: list[int] = []  # cells per <tr>
        self.code_text: list[str] = []
        self.plain_text: list[str] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.depth[tag] = self.depth.get(tag, 0) + 1
        self.most[tag] = max(self.most.get(tag, 0), self.depth[tag])
        if tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1
        elif tag == "code":
            self.code_text.append("")
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        self.depth[tag] = self.depth.get(tag, 0) - 1
        assert self.depth[tag] >= 0, f"</{tag}> without <{tag}>"
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self.depth.get("code", 0) > 0:
            self.code_text[-1] += data
        else:
            self.plain_text.append(data)
        if self._heading is not None:
            self._heading.append(data)


def inspect(markdown: str) -> Inspected:
    """Render ``markdown`` as GitHub would and check what must hold for any input."""
    assert "\r" not in markdown
    assert not [c for c in markdown if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    assert markdown.count("<details>") == markdown.count("</details>")
    found = Inspected()
    found.feed(GITHUB.render(markdown))
    found.close()
    strange = {tag for tag, _ in found.tags} - OURS
    assert not strange, f"elements a value created: {strange}"
    assert not [(t, a) for t, a in found.tags if a], "attributes (href, src, on...) appeared"
    assert all(v == 0 for v in found.depth.values()), f"unclosed: {found.depth}"
    assert found.most.get("details", 0) <= 1
    # One heading, ours; every table row has exactly its three cells (the property table
    # and the per-layer tables alike), and there are as many rows as we wrote.
    assert len(found.headings) == 1 and found.headings[0].startswith("gitrelstate: ")
    assert all(cells == 3 for cells in found.rows), found.rows
    written = [ln for ln in markdown.split("\n") if ln.startswith("|") and "| --- |" not in ln]
    assert len(found.rows) == len(written)
    # A mention or autolink needs its text outside <code> on GitHub; there is none.
    outside = "".join(found.plain_text)
    assert "@" not in outside and "evil" not in outside and "://" not in outside
    return found


def shown(value: str) -> str:
    """How a value reads in the comment: on one line, controls as visible escapes."""
    return term(value.translate(BREAKS), one_line=True)


# -- a real repository ------------------------------------------------------------------


def _world(
    tmp_path_factory: pytest.TempPathFactory, payloads: tuple[str, ...]
) -> Iterator[HostileWorld]:
    with hostile_world(tmp_path_factory.mktemp("threat-md"), payloads) as world:
        yield world


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileWorld]:
    yield from _world(tmp_path_factory, MARKDOWN + TERMINAL)


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileWorld]:
    yield from _world(tmp_path_factory, MARKDOWN + MARKDOWN_MORE + TERMINAL + TERMINAL_MORE)


def _check_repository(world: HostileWorld) -> None:
    result = relstate(world.repo, "diff", "r1", "r2", "--md")
    assert result.code == 0, result.err
    assert result.out.startswith(MARKER)
    found = inspect(result.out)
    code = "\n".join(found.code_text)
    # Every payload is shown, as text: params keys and values, metrics keys, the model
    # reference; code-layer and data file names (the parts between slashes).
    for i, payload in enumerate(world.payloads):
        assert shown(payload) in code, payload
        assert shown(code_path(i, payload)) in code
        assert shown(data_path(i, payload)) in code
    assert shown(world.reference[:400]) in code
    for layer in ("model", "metrics", "data", "pipeline", "code"):
        assert f"<summary><b>{layer}</b>" in result.out
    # The side whose label is a hostile branch name.
    labelled = relstate(world.repo, "diff", "r1", world.branch, "--md")
    assert labelled.code == 0, labelled.err
    found = inspect(labelled.out)
    assert shown(world.branch) in found.headings[0]


def test_hostile_repository_renders_inert(sample: HostileWorld) -> None:
    _check_repository(sample)


@pytest.mark.slow
def test_every_payload_renders_inert(everything: HostileWorld) -> None:
    _check_repository(everything)


# -- the escaping, fuzzed ---------------------------------------------------------------

# Text an attacker would try: Markdown and HTML syntax, URL and mention starts, line
# breaks and controls, mixed with arbitrary Unicode (surrogates included).
TOKENS = [
    *"[]()!<>@:/`*_|#&;\\\r\n\t\x1b\x07\x85\u202e\u200b -=.~$^{}'\"+",
    *("https://", "www.", "mailto:", "<code>", "</code>", "<details>", "</details>"),
    *("<!--", "-->", "@octocat", "&#64;", "&amp;", "```", "<img src=x>", "| --- |"),
]
HOSTILE_TEXT = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    st.text(st.characters(exclude_categories=()), max_size=60),
)


def _shapes(value: str) -> dict[str, str]:
    """``value`` in each place the renderer puts one."""
    cell = f"<code>{md(value)}</code>"
    return {
        "table": f"| layer | what | detail |\n| --- | --- | --- |\n| a | {cell} | x {cell} |\n",
        "heading": f"### gitrelstate: {cell} → {cell}\n",
        "details": f"<details><summary><b>x</b>: {cell}</summary>\n\n</details>\n",
        "list": f"- {cell}\n- {cell}\n",
    }


def _check_value(value: str) -> None:
    expected = shown(value)
    escaped = md(value)
    assert "\n" not in escaped and "\r" not in escaped
    assert not re.search(r"[\[\]()!<>@:`*_|#\\]", escaped.replace("&#", "").replace("<!-- -->", ""))
    for shape, text in _shapes(value).items():
        found = Inspected()
        found.feed(GITHUB.render(text))
        found.close()
        tags = [tag for tag, _ in found.tags]
        assert not [(t, a) for t, a in found.tags if a], shape
        assert set(tags) <= OURS and all(v == 0 for v in found.depth.values()), (
            shape,
            tags,
        )
        assert all(text == expected for text in found.code_text), (
            shape,
            found.code_text,
        )
        if shape == "table":
            assert found.rows == [3, 3] and tags.count("code") == 2
        elif shape == "heading":
            assert tags == ["h3", "code", "code"]
        elif shape == "list":
            assert tags.count("li") == 2 and tags.count("ul") == 1
        else:
            assert tags.count("details") == 1


@settings(max_examples=FAST, deadline=None)
@given(HOSTILE_TEXT)
def test_any_value_is_inert(value: str) -> None:
    _check_value(value)


@pytest.mark.slow
@settings(max_examples=MANY, deadline=None)
@given(HOSTILE_TEXT)
def test_many_values_are_inert(value: str) -> None:
    _check_value(value)


# -- whole documents and the size limit -------------------------------------------------


def _replace_strings(doc: Any, texts: Iterator[str]) -> Any:
    """``doc`` with every string value (not the keys) replaced by the next of ``texts``."""
    if isinstance(doc, dict):
        return {k: _replace_strings(v, texts) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_replace_strings(v, texts) for v in doc]
    return next(texts) if isinstance(doc, str) else doc


def _big_document(value: str, files: int, label: str) -> dict[str, Any]:
    """A diff whose every name is ``value``-based and long, with thousands of rows."""
    big = value * (2000 // max(1, len(value)) + 1)
    added = [{"path": f"data/{big}/{i}", "size": 1, "hash": "x"} for i in range(files)]
    return {
        "a": {"label": label},
        "b": {"label": label},
        "layers": {
            "model": {"old": {"reference": big * 50}, "new": {"reference": value}},
            "metrics": {"metrics": [{"file": big, "key": value, "status": "added", "new": 1}]},
            "data": {
                "summary": {"paths": 1, "added": files, "removed": 0, "modified": 0},
                "paths": [{"path": big, "status": "modified", "details": False}],
                "added": added,
                "incomplete": [big * 5] * 30,
            },
            "code": {
                "changed": True,
                "old": {"commit": "x"},
                "new": {"commit": "y"},
                "files": [{"path": f"{big}{i}", "status": "added"} for i in range(files)],
            },
            "environment": {"unavailable": [big, value]},
        },
    }


CUT_VALUE = "@octocat ![i](https://evil.example/p.png) </details><h1>x\r| a |"


@pytest.mark.parametrize("limit", [60_000, 20_000, 3_000])
def test_cut_on_whole_lines_with_details_closed(limit: int) -> None:
    doc = _big_document(CUT_VALUE, 3000, CUT_VALUE * 10)
    text = render_markdown(StateDiff.from_dict(doc), limit=limit)
    assert len(text) <= limit
    inspect(text)
    assert "truncated to fit" in text or "more not shown" in text


def _cut_at(limits: list[int]) -> int:
    """Render at each limit; how many cuts fell inside a ``<details>`` section."""
    diff = StateDiff.from_dict(_big_document(CUT_VALUE, 50, "release 'a'"))
    inside = 0
    for limit in limits:
        text = render_markdown(diff, limit=limit)
        assert len(text) <= limit
        inspect(text)
        inside += "truncated to fit" in text and text.rstrip().split("\n")[-3] == "</details>"
    return inside


def test_cut_inside_a_section_closes_it() -> None:
    # The shortest rendering (no rows) cut just after each <details> line: every section
    # that was open must be closed all the same.
    diff = StateDiff.from_dict(_big_document(CUT_VALUE, 50, "release 'a'"))
    lines = markdown_lines(diff, 0)
    ends = list(itertools.accumulate(len(line) + 1 for line in lines))
    limits = [ends[i] + 120 for i, line in enumerate(lines) if line.startswith("<details>")]
    assert len(limits) >= 4
    assert _cut_at(limits) == len(limits)


@pytest.mark.slow
def test_cut_at_every_size_keeps_the_document_whole() -> None:
    assert _cut_at(list(range(1_000, 30_000, 199))) > 0


@pytest.fixture(scope="module")
def template(sample: HostileWorld) -> dict[str, Any]:
    """The ``--json`` document of the hostile repository: every layer, every field."""
    result = relstate(sample.repo, "diff", "r1", "r2", "--json")
    assert result.code == 0, result.err
    doc: dict[str, Any] = json.loads(result.out)
    # Environment notes travel with git notes, so their names are the attacker's too.
    doc["layers"]["environment"] = {
        "sources": {"old": "note", "new": "note"},
        "interpreter": [{"key": "version", "old": "3.11", "new": "3.12"}],
        "packages": {"added": {"pkg": "1"}, "removed": {}, "changed": {"lib": {"old": "1"}}},
        "lockfiles": {"added": {}, "removed": {"poetry.lock": "x"}, "changed": {}},
        "variables": {"added": [{"name": "MODE", "value": "x"}], "changed": [], "removed": []},
    }
    return doc


def _fuzz_documents(template: dict[str, Any], texts: list[str], limit: int) -> None:
    doc = _replace_strings(template, itertools.cycle(texts))
    text = render_markdown(StateDiff.from_dict(doc), limit=limit)
    assert len(text) <= limit
    inspect(text)


@settings(
    max_examples=FAST // 10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    texts=st.lists(HOSTILE_TEXT, min_size=1, max_size=40),
    limit=st.integers(1_500, 60_000),
)
def test_fuzzed_documents_are_inert(template: dict[str, Any], texts: list[str], limit: int) -> None:
    _fuzz_documents(template, texts, limit)


@pytest.mark.slow
@settings(
    max_examples=MANY // 10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    texts=st.lists(HOSTILE_TEXT, min_size=1, max_size=40),
    limit=st.integers(1_500, 60_000),
)
def test_many_fuzzed_documents_are_inert(
    template: dict[str, Any], texts: list[str], limit: int
) -> None:
    _fuzz_documents(template, texts, limit)
