"""No name or value from a repository can drive the terminal (docs/reliability.md,
threat model, class 4): whatever ``diff``, ``show``, ``list``, ``status``, the git hooks
and the error messages print holds no control character but newline and tab, no C1
control, no bidi control and no invisible character, while our own colours still work
and ``--json`` still decodes to exactly the same document.

Output is read as bytes from the real CLI (a pipe, or a pseudo-terminal for colours).
The default run uses a sample of payloads; ``pytest -m slow`` every payload.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import termios
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrelstate import ui
from gitrelstate.guard.text import term
from tests.helpers.cli import git, make_repo
from tests.reliability.hostile_text import (
    ESC,
    MARKDOWN,
    MARKDOWN_MORE,
    TERMINAL,
    TERMINAL_MORE,
    HostileWorld,
    hostile_world,
    isolated,
)

FAST = 300
MANY = 5_000
# Characters that must never reach a terminal raw: every control (C0 but newline and
# tab, DEL, C1), format character (bidi, zero-width, BOM, tags...), line or paragraph
# separator and surrogate, by the Unicode database itself rather than our own list.
NEVER = ("Cc", "Cf", "Cs", "Zl", "Zp")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def forbidden(text: str) -> list[str]:
    """The characters of ``text`` that drive or deceive a terminal."""
    return [c for c in text if c not in "\n\t" and unicodedata.category(c) in NEVER]


def terminal(cwd: Path, *args: str, tty: bool = False) -> tuple[int, str, str]:
    """The CLI's exit code, stdout and stderr as the terminal would get them (no newline
    translation); ``tty``: stdout is a pseudo-terminal, as for a user at a prompt."""
    command = [sys.executable, "-m", "gitrelstate", *args]
    if not tty:
        done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=300)
        return done.returncode, done.stdout.decode(), done.stderr.decode()
    leader, follower = pty.openpty()
    mode = termios.tcgetattr(follower)
    mode[1] &= ~termios.OPOST  # keep '\n' as sent (no CR added by the terminal)
    termios.tcsetattr(follower, termios.TCSANOW, mode)
    with subprocess.Popen(
        command,
        cwd=cwd,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=os.environ | {"TERM": "xterm"},
    ) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        err = proc.stderr.read() if proc.stderr else b""
        code = proc.wait(timeout=300)
    os.close(leader)
    return code, b"".join(chunks).decode(), err.decode()


def clean(cwd: Path, *args: str, expect: int | None = 0) -> tuple[str, str]:
    """Run a command; assert its exit code and that nothing raw reached the terminal."""
    code, out, err = terminal(cwd, *args)
    assert expect is None or code == expect, f"{args}: exit {code}\n{err}"
    assert not forbidden(out), (args, forbidden(out)[:10])
    assert not forbidden(err), (args, forbidden(err)[:10])
    assert "Traceback" not in err
    return out, err


# -- the commands, on a hostile repository ----------------------------------------------


def _world(
    tmp_path_factory: pytest.TempPathFactory, payloads: tuple[str, ...]
) -> Iterator[HostileWorld]:
    with hostile_world(tmp_path_factory.mktemp("threat-term"), payloads) as world:
        yield world


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileWorld]:
    yield from _world(tmp_path_factory, TERMINAL + MARKDOWN[:2] + ("naïve café",))


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileWorld]:
    yield from _world(tmp_path_factory, TERMINAL + TERMINAL_MORE + MARKDOWN + MARKDOWN_MORE)


def _check_commands(world: HostileWorld) -> None:
    repo = world.repo
    out, _ = clean(repo, "diff", "r1", "r2")
    # The payloads are shown, escaped, rather than dropped.
    assert "\\u001b[2J" in out and "\\u202e" in out and "real value\\u000dFAKE VALUE" in out
    clean(repo, "diff", "r1", "r2", "--stat")
    clean(repo, "diff", "r1", "r2", "--md")
    clean(repo, "diff", "r1", world.branch)
    clean(repo, "diff", "r1", "r2", "--layer", "code")
    clean(repo, "show", "r2")
    clean(repo, "show", "train")
    clean(repo, "list")
    clean(repo, "status")
    # A hostile name in the work tree that status reports.
    (repo / "data" / "d0" / "new\u202efile").write_text("x\n")
    try:
        clean(repo, "status", expect=None)
    finally:
        (repo / "data" / "d0" / "new\u202efile").unlink()


def test_commands_print_no_raw_controls(sample: HostileWorld) -> None:
    _check_commands(sample)


@pytest.mark.slow
def test_commands_print_no_raw_controls_for_any_payload(
    everything: HostileWorld,
) -> None:
    _check_commands(everything)


def test_json_stays_exact(sample: HostileWorld) -> None:
    # JSON is its own escaping: the bytes carry no raw control either, yet the document
    # decodes to the very keys and values the attacker wrote; other text stays UTF-8.
    out, _ = clean(sample.repo, "diff", "r1", "r2", "--json")
    doc = json.loads(out)
    keys = {p["key"] for p in doc["layers"]["pipeline"]["params"]}
    values = {p["new"] for p in doc["layers"]["pipeline"]["params"]}
    assert {p for p in sample.payloads if p.isprintable()} <= keys
    assert set(sample.payloads) <= values
    assert doc["layers"]["model"]["new"]["reference"] == sample.reference
    assert "naïve café" in out  # ensure_ascii=False, as before
    shown, _ = clean(sample.repo, "show", "r2", "--json")
    assert json.loads(shown)["model"]["reference"] == sample.reference


def test_colours_survive_escaping(sample: HostileWorld) -> None:
    code, out, err = terminal(sample.repo, "diff", "r1", "r2", tty=True)
    assert code == 0, err
    colours = SGR.findall(out)
    assert len(colours) > 10  # ours: headings, changed layers, rows
    assert not forbidden(SGR.sub("", out))  # and nothing else
    assert "\\u001b]8;;https://evil.example\\u0007CLICK ME" in out


def test_undecodable_file_names(tmp_path: Path) -> None:
    # git stores names as bytes; one that is not UTF-8 decodes to lone surrogates, which
    # a terminal must not get raw (nor may printing them crash).
    repo = make_repo(tmp_path / "repo")
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    name = b"bad\xff" + ESC.encode() + b"[2J.py"
    with open(os.path.join(os.fsencode(repo), name), "w") as fh:
        fh.write("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "undecodable")
    out, _ = clean(repo, "diff", "HEAD~1", "HEAD", "--layer", "code")
    assert "bad\\udcff\\u001b[2J.py" in out
    clean(repo, "diff", "HEAD~1", "HEAD", "--md")
    doc = json.loads(clean(repo, "diff", "HEAD~1", "HEAD", "--json")[0])
    assert os.fsdecode(name) in [f["path"] for f in doc["layers"]["code"]["files"]]


# -- messages: errors, usage errors, hooks, 'running ...' -------------------------------

HOSTILE_NAME = f"x{ESC}]0;owned\x07{ESC}[2J\rfake\u202egpj"


def _small(root: Path) -> Path:
    """A repository with one tracked folder and one recorded run, committed."""
    repo = make_repo(root / "repo")
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("a\n")
    clean(repo, "track", "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    clean(
        repo,
        "run",
        "-n",
        "train",
        "-d",
        "data",
        "-o",
        "out.txt",
        "--",
        "touch",
        "out.txt",
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "run")
    return repo


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return _small(tmp_path)


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """:func:`_small` for tests that only read it."""
    base = tmp_path_factory.mktemp("threat-msg")
    with isolated(base):
        yield _small(base)


def _edit(path: Path, change: dict[str, object]) -> None:
    doc = yaml.safe_load(path.read_text())
    doc.update(change)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


@pytest.mark.parametrize(
    "args",
    [
        ("show", HOSTILE_NAME),  # error: not a release or run 'NAME'
        ("diff", HOSTILE_NAME, "HEAD"),  # error (exit 2)
        ("show", "r", HOSTILE_NAME),  # click's usage error quotes the argument raw
        ("track", f"data/{HOSTILE_NAME}"),  # no such path
        ("checkout", "--release", HOSTILE_NAME),
    ],
    ids=["show", "diff", "usage", "track", "checkout"],
)
def test_error_messages_escape_what_they_quote(unchanged: Path, args: tuple[str, ...]) -> None:
    _, err = clean(unchanged, *args, expect=None)
    assert err.startswith(("error:", "Usage:"))
    assert "\\u001b" in err or "\\x1b" in err  # shown, escaped (by us or by the message)


def test_refusals_of_hostile_state_files_escape_the_value(small: Path) -> None:
    # A committed pointer and record whose values carry escapes: every command that
    # refuses them quotes the value in its message.
    pointer = small / "data.relstate.yaml"
    original = pointer.read_text()
    _edit(pointer, {"hash": f"blake3:{ESC}[2J{ESC}]0;t\x07"})
    clean(small, "status", expect=None)
    clean(small, "checkout", expect=None)
    pointer.write_text(original)
    record = small / ".relstate" / "runs" / "train.yaml"
    _edit(record, {"command": ["sh", "-c", "true", HOSTILE_NAME]})
    git(small, "commit", "-qam", "hostile command", "--no-verify")
    clean(small, "show", "train")
    clean(small, "run", "train", expect=None)  # 'running ...' quotes the argv
    clean(small, "reproduce", "train", expect=None)


def test_walk_refusal_of_a_control_character_name_is_escaped(small: Path) -> None:
    (small / "data" / HOSTILE_NAME).write_text("x\n")
    _, err = clean(small, "track", "data", expect=1)
    assert "error:" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_labels_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # A progress bar's label can be a path (track); tqdm draws it with its own \r.
    pytest.importorskip("tqdm")
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with ui.progress(3, HOSTILE_NAME) as advance:
        advance(3)
    with ui.transfer_progress(2, 10, HOSTILE_NAME) as moved:
        moved(2, 10)
    drawn = screen.getvalue()
    assert "owned" in drawn and "\\u001b]0;owned\\u0007" in drawn
    assert not forbidden(drawn.replace("\r", "").replace("\x1b[A", ""))


def _commit_through_hooks(repo: Path) -> str:
    """``git commit`` with gitrelstate's hooks installed; what they printed (the commit
    must have been refused, so the hook ran)."""
    proc = subprocess.run(["git", "commit", "-qm", "x"], cwd=repo, capture_output=True)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "gitrelstate" in err, err
    return err


def test_pre_commit_findings_escape_key_names(small: Path) -> None:
    clean(small, "install")
    pointer = small / "data.relstate.yaml"
    _edit(pointer, {f"{ESC}]0;owned\x07{ESC}[2Jpassword": "Zx9-Secret-Value-1234567"})
    git(small, "add", "-A")
    err = _commit_through_hooks(small)
    assert not forbidden(err), forbidden(err)


def test_pre_commit_findings_escape_data_names(small: Path) -> None:
    # Tracked names may hold bidi controls (only C0/C1 are refused); a finding quotes one.
    clean(small, "install")
    name = "weights\u202egpj.exe"
    (small / name).write_text("a\n")
    clean(small, "track", name)
    git(small, "add", "-A")
    git(small, "commit", "-qm", "weights", "--no-verify")
    (small / name).write_text("b\n")  # no longer what its staged pointer records
    (small / "other.txt").write_text("x\n")
    git(small, "add", "other.txt")
    err = _commit_through_hooks(small)
    assert "no longer matches" in err
    assert not forbidden(err), forbidden(err)


# -- the escaping itself ----------------------------------------------------------------


# Escaped too though not in NEVER: fillers that draw nothing yet count as letters, and
# the format characters Unicode 15 added (this Python may carry an older database).
INVISIBLE = {
    0x034F,
    0x115F,
    0x1160,
    0x17B4,
    0x17B5,
    0x3164,
    0xFFA0,
    *range(0x13439, 0x13440),
}


def test_every_unsafe_character_is_escaped() -> None:
    # Against the Unicode database this Python carries: every code point, once.
    for cp in range(0x110000):
        c = chr(cp)
        escaped = term(c)
        if c not in "\n\t" and unicodedata.category(c) in NEVER:
            assert escaped != c and escaped.isascii() and not forbidden(escaped), hex(cp)
        else:
            assert escaped == c or cp in INVISIBLE, hex(cp)


def _check_text(text: str) -> None:
    shown = term(text)
    assert not forbidden(shown)
    assert term(shown) == shown  # once is enough
    line = term(text, one_line=True)
    assert "\n" not in line and not forbidden(line)
    if not forbidden(text) and not any(ord(c) in INVISIBLE for c in text):
        assert shown == text  # normal names read as they are
    # JSON passing through term() decodes to the same value (what --json relies on).
    for doc in ({"k": text}, [text, 1]):
        raw = json.dumps(doc, ensure_ascii=False)
        assert json.loads(term(raw)) == doc


HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=80),
    st.lists(
        st.sampled_from(["\x1b", "[2J", "]8;;", "\x07", "\r", "\n", "\x9b", "\u202e", "é", "\\"]),
        max_size=30,
    ).map("".join),
)


@settings(max_examples=FAST, deadline=None)
@given(HOSTILE_TEXT)
def test_any_text_is_escaped(text: str) -> None:
    _check_text(text)


@pytest.mark.slow
@settings(max_examples=MANY, deadline=None)
@given(HOSTILE_TEXT)
def test_much_text_is_escaped(text: str) -> None:
    _check_text(text)
