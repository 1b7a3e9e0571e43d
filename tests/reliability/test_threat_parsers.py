"""Threat model, class 7: parsers neither crash nor crawl (docs/spec.md, "Limits").

Every file gitrelstate parses arrives through Git, a remote or a pull request: state
files go through one YAML reader (state.yamlio: one pass, core schema only, string
keys, no aliases or other tags, depth, value count, 64-bit integers, finite numbers),
listings and params/metrics JSON through one bounded JSON reader (guard.jsonload), and
each kind has a size cap checked before parsing (guard.limits). So every command
answers 0, 1 or 2 with ``error:`` and ``hint:``, never exit 3 or a traceback, and
nothing unverified enters the cache. A large record that is accepted costs well under
2 s per command: measured here as CPU time, so a loaded machine does not make the
test flaky.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitrelstate import hashing
from gitrelstate.diff import textconv
from gitrelstate.errors import RelstateError, StateFileError
from gitrelstate.guard import jsonload, limits
from gitrelstate.releases import registry
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.manifest import Manifest
from tests.helpers.cli import Runner, commit_all, relstate

SCRIPT = "open('out.txt','w').write('x'); open('metrics.json','w').write('{\"acc\": 0.9}')"
FAST = int(os.environ.get("RELSTATE_HOSTILE_EXAMPLES", "6"))


@pytest.fixture
def project(repo: Path, run: Runner, tmp_path: Path) -> Path:
    """Tracked data, a recorded run (params, metrics), a folder remote; committed."""
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("hello\n")
    (repo / "params.yaml").write_text("lr: 0.1\n")
    run(repo, "track", "data")
    run(repo, "remote", "add", "origin", str(tmp_path / "remote"), "--default")
    commit_all(repo, "base")
    run(
        repo,
        "run",
        "-n",
        "train",
        "-d",
        "data",
        "-p",
        "params.yaml",
        "-o",
        "out.txt",
        "-m",
        "metrics.json",
        "--",
        sys.executable,
        "-c",
        SCRIPT,
    )
    run(repo, "release", "v1")
    commit_all(repo, "run and release")
    run(repo, "push")
    return repo


# Commands that read state files, and what they may answer.
COMMANDS: list[tuple[str, ...]] = [
    ("status",),
    ("list",),
    ("show", "train"),
    ("show", "v1"),
    ("diff", "HEAD~1"),
    ("diff", "HEAD~1", "--md"),
    ("diff", "v1", "--json"),
    ("verify",),
    ("checkout", "--release", "v1", "--force"),
    ("trace", "out.txt"),
    ("env", "show", "train"),
]


def answers_cleanly(run: Runner, repo: Path, commands: list[tuple[str, ...]] = COMMANDS) -> str:
    """Each command exits 0, 1 or 2; a refusal says error: and hint:; no traceback.
    Returns everything they wrote on stderr."""
    errors = []
    for args in commands:
        res = run(repo, *args, expect=None)
        assert res.code in (0, 1, 2), (args, res.code, res.err)
        assert "Traceback" not in res.err and "unexpected" not in res.err, (args, res.err)
        if res.code != 0 and "error:" in res.err:
            assert "hint:" in res.err, (args, res.err)
        errors.append(res.err)
    return "\n".join(errors)


def edit_yaml(path: Path, text: str) -> None:
    """Append raw YAML lines to a state file (what a hostile commit does)."""
    path.write_text(path.read_text() + text)


RECORD = ".relstate/runs/train.yaml"
RELEASE = ".relstate/releases/v1.yaml"


@pytest.mark.parametrize(
    ("where", "extra", "words"),
    [
        (RELEASE, "1: x\nb: y\n", "mapping keys must be strings"),  # the audit's exit 3
        (RECORD, "7: seven\n", "mapping keys must be strings"),
        (RECORD, "big: 1" + "0" * 5000 + "\n", "unreadable number"),
        (RECORD, "n: .nan\n", "not a finite number"),
        (RECORD, "f: 1e999\n", "not a finite number"),
        (RECORD, "b: !!binary aGk=\n", "!!binary is not allowed"),
        (RECORD, "s: !!set {a, b}\n", "!!set is not allowed"),
        (RECORD, "a: &x [1]\nc: *x\n", "aliases are not allowed"),
        (RECORD, "deep: " + "[" * 5000 + "]" * 5000 + "\n", "nesting deeper than 64"),
        (RECORD, "u: _\n", None),  # a plain '_' is a string (ruamel crashed on it)
        (RECORD, 'nul: "a\\0b"\n', "NUL characters are not allowed"),
        ("data.relstate.yaml", "extra: !!python/object:os.system {}\n", "is not allowed"),
    ],
)
def test_hostile_values_are_refused_by_every_command(
    project: Path, run: Runner, where: str, extra: str, words: str | None
) -> None:
    edit_yaml(project / where, extra)
    errors = answers_cleanly(run, project)
    assert words is None or words in errors, errors


def test_state_files_that_are_symlinks_out_of_the_tree(
    project: Path, run: Runner, tmp_path: Path
) -> None:
    """A committed symlink in place of a record or release must not make gitrelstate
    read (and quote in its errors) a file elsewhere, or hang on a device."""
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2-SECRET\n")
    # (verify reads release files itself until it calls registry.verify_problems.)
    commands = [c for c in COMMANDS if c != ("verify",)]
    for rel, target in ((RECORD, secret), (RELEASE, Path("/dev/zero"))):
        path = project / rel
        original = path.read_bytes()
        path.unlink()
        path.symlink_to(target)
        errors = answers_cleanly(run, project, commands)
        assert "hunter2" not in errors
        if rel == RELEASE:
            with Repo.open(project) as repo:
                problems, checked = registry.verify_problems(repo, all_refs=True)
            assert checked == 2 and len(problems) == 1 and "outside" in problems[0], problems
        path.unlink()
        path.write_bytes(original)


def test_recorded_commit_is_never_a_git_option(project: Path, run: Runner, tmp_path: Path) -> None:
    """A record's code.commit is passed to git: '--output=FILE' would make git diff
    write FILE. Refused when the record is loaded."""
    target = tmp_path / "pwned"
    path = project / RECORD
    doc = yamlio.loads(path.read_text(), RECORD)
    doc["code"] = {"commit": f"--output={target}", "dirty": True, "diff": doc["code"].get("diff")}
    path.write_text(yamlio.dumps({k: v for k, v in doc.items()}))
    for args in (("diff", "train"), ("reproduce", "train"), ("release", "v2"), ("show", "train")):
        res = run(project, *args, expect=None)
        assert res.code in (1, 2) and "full git commit id" in res.err, (args, res.err)
    assert not target.exists()


def test_deep_listing_is_refused_and_not_cached(project: Path, run: Runner, tmp_path: Path) -> None:
    """The audit's 100k-deep listing, within the size its pointer allows, on the remote
    under its true hash: refused by the listing reader; never kept in the cache."""
    raw = b'{"relstate":1,"kind":"manifest","algo":"blake3","entries":['
    raw += b"[" * 4000 + b"]" * 4000 + b"]}\n"
    hex_ = hashing.hash_bytes(raw)
    obj = tmp_path / "remote" / "blake3" / hex_[:2] / hex_[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(raw)
    pointer = f"relstate: 1\nkind: data\npath: deep\nhash: blake3:{hex_}\nsize: 1\nnfiles: 1\n"
    (project / "deep.relstate.yaml").write_text(pointer)
    commit_all(project, "deep")
    commands = [
        ("diff", "HEAD~1"),
        ("diff", "HEAD~1", "--md"),
        ("pull", "deep"),
        ("status",),
        ("verify",),
        ("verify", "-r", "origin"),
        ("diff", "HEAD~1"),
    ]
    answers_cleanly(run, project, commands)
    cache = project / ".git" / "relstate" / "cache"
    assert not any(hex_[2:] in p.name for p in cache.rglob("*")), "a bad listing was cached"
    with pytest.raises(StateFileError, match="nested deeper than 64"):
        Manifest.from_bytes(raw, "deep")


def test_hostile_params_and_metrics(project: Path, run: Runner) -> None:
    """Params and metrics the work tree holds (diff's live side), as a PR commits them."""
    cases = {
        "params.yaml": ["[" * 100_000 + "]" * 100_000, "1: a\n'1': b\n", "a: !!binary aGk=\n"],
        "metrics.json": [
            '{"acc": NaN}',
            '{"acc": 1e999}',
            "[" * 100_000 + "]" * 100_000,
            '{"a": ' + "9" * 5000 + "}",
        ],
    }
    for name, texts in cases.items():
        original = (project / name).read_bytes()
        for text in texts:
            (project / name).write_text(text)
            for args in (("diff",), ("diff", "--json"), ("diff", "--md"), ("status",)):
                res = run(project, *args, expect=None)
                assert res.code in (0, 1, 2) and "Traceback" not in res.err, (args, res.err)
                if res.code == 2:
                    assert "error:" in res.err and "hint:" in res.err, res.err
        (project / name).write_bytes(original)


def test_json_output_never_holds_nan(project: Path, run: Runner) -> None:
    (project / "metrics.json").write_text('{"acc": 0.5, "loss": 1e308}')
    out = run(project, "diff", "--json").out
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in diff --json"))
    (project / "metrics.json").write_text('{"acc": NaN}')
    res = run(project, "diff", "--json", expect=2)
    assert "NaN is not a JSON number" in res.err and "NaN" not in res.out


def test_oversized_record_is_refused_unread(project: Path, run: Runner) -> None:
    path = project / RECORD
    path.write_text(path.read_text() + "pad: '" + "x" * (limits.RECORD.max_bytes + 1) + "'\n")
    started = time.process_time()
    res = run(project, "status", expect=1)
    assert "more than a run record may hold" in res.err and "hint:" in res.err
    assert time.process_time() - started < 2


def test_value_count_is_bounded() -> None:
    text = "[" + "1," * (limits.MAX_NODES + 10) + "1]"
    started = time.process_time()
    with pytest.raises(StateFileError, match="values"):
        yamlio.loads(text, "x", cap=limits.Cap("x", 64 * limits.MiB))
    assert time.process_time() - started < 2


def test_not_utf8_and_wrong_types_in_listings() -> None:
    head = b'{"relstate":1,"kind":"manifest","algo":"blake3","entries":['
    for body in (
        b'["a","' + b"0" * 64 + b'",-1,false]',
        b'["a","' + b"0" * 64 + b'",true,1]',
        b'["a","' + b"0" * 64 + b'",' + b"9" * 30 + b",false]",
        b"\xff\xfe",
        b'["a","' + b"0" * 64 + b'",1,false],["a","' + b"0" * 64 + b'",1,false]',
    ):
        with pytest.raises(RelstateError):
            Manifest.from_bytes(head + body + b"]}\n", "listing")


# -- large but accepted: fast ---------------------------------------------------------------


def _big_record(project: Path, packages: int) -> Path:
    path = project / RECORD
    doc = yamlio.loads(path.read_text(), RECORD)
    doc["environment"]["packages"] = {
        f"pkg-{i:06d}-{'x' * 40}": f"{i}.0.0" for i in range(packages)
    }
    path.write_text(yamlio.dumps(doc))
    return path


@pytest.fixture
def big(project: Path) -> Iterator[Path]:
    """The audit's record: 60,000 packages, about 4 MB, committed over the small one."""
    path = _big_record(project, 60_000)
    assert path.stat().st_size > 4_000_000
    commit_all(project, "big record")
    yield path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_large_record_parses_and_shows_fast(big: Path) -> None:
    text = big.read_text()
    for step, work in (
        ("parse", lambda: yamlio.loads(text, RECORD, cap=limits.RECORD)),
        ("normalise (git log -p)", lambda: textconv.normalised(text, RECORD)),
        ("write", lambda: yamlio.dumps(yamlio.loads(text, RECORD, cap=limits.RECORD))),
    ):
        started = time.process_time()
        work()
        assert time.process_time() - started < 1.5, step


def test_large_record_status_and_git_log_p_under_two_seconds(big: Path, project: Path) -> None:
    """CPU time of the real processes (children of this one): what the commands cost,
    whatever else the machine is doing."""
    for args in (["status"], ["list"], ["diff", "HEAD~1"]):
        before = _children_cpu()
        res = relstate(project, *args)
        assert res.code == 0, res.err
        assert _children_cpu() - before < 2, args
    before = _children_cpu()
    out = subprocess.run(["git", "log", "-p", "-1"], cwd=project, capture_output=True, text=True)
    # Normalised by the textconv driver: packages as name==version lines.
    assert out.returncode == 0 and "x==59999.0.0" in out.stdout
    assert _children_cpu() - before < 2, "git log -p"


def test_parse_cache_keeps_only_what_passed(project: Path, run: Runner) -> None:
    big = _big_record(project, 5_000)
    run(project, "status")
    kept = project / ".git" / "relstate" / "parsed"
    assert len(list(kept.rglob("*.json"))) == 1
    edit_yaml(big, "x: !!binary aGk=\n")
    run(project, "status", expect=1)
    assert len(list(kept.rglob("*.json"))) == 1  # the refused version was not kept


# -- the full hostile suite ---------------------------------------------------------------------


def _mutations() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True),
        st.text(max_size=20),
        st.just("--output=/tmp/x"),
        st.just("../../etc/passwd"),
    )
    return st.recursive(
        scalars,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=6,
    )


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    doc[head] = _replace(doc[head], rest, value)
    return doc


@pytest.mark.slow
@pytest.mark.parametrize("where", [RECORD, RELEASE, "data.relstate.yaml"])
def test_wrong_types_anywhere(project: Path, run: Runner, where: str) -> None:
    """Any value of any type at any place of a state file: every command answers 0/1/2."""
    path = project / where
    original = path.read_text()
    paths = [p for p in _paths(yamlio.loads(original, where)) if p]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(paths), _mutations())
    def one(at: tuple[Any, ...], value: Any) -> None:
        doc = _replace(yamlio.loads(original, where), at, value)
        try:
            path.write_text(yamlio.dumps(doc))
        except (ValueError, TypeError):
            return  # not writable as YAML (NaN is written, then refused on reading)
        answers_cleanly(run, project, COMMANDS[:8])
        path.write_text(original)

    one()


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_yaml_reader_fuzz(text: str) -> None:
    """Any text: a value or StateFileError, nothing else (no IndexError, RecursionError)."""
    try:
        doc = yamlio.loads(text, "fuzz")
    except StateFileError:
        return
    json.dumps(doc, allow_nan=False)  # plain JSON, always


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=200)
    | st.text(alphabet='[]{}"\\,:0123456789eE.-+ aNI', max_size=200).map(str.encode)
)
def test_json_reader_fuzz(raw: bytes) -> None:
    try:
        doc = jsonload.loads(raw, "fuzz", cap=limits.PARAMS)
    except StateFileError:
        return
    json.dumps(doc, allow_nan=False)
    assert jsonload.max_depth(raw) <= limits.MAX_DEPTH


_PLAIN_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(limits.MIN_INT, limits.MAX_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), _PLAIN_VALUES, min_size=1, max_size=5))
def test_writer_gives_ruamel_bytes_and_reads_back(doc: dict[str, Any]) -> None:
    """The fast writer is ruamel's writer, byte for byte, and the reader reads it back."""
    if any(not k.isprintable() for k in _keys(doc)):
        return  # keys are printable (the reader refuses others)
    text = yamlio.dumps(doc)
    assert text == yamlio._ruamel_dumps(doc)
    assert yamlio.loads(text, "x") == doc


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def test_reader_agrees_with_ruamel_on_state_files() -> None:
    """The one-pass reader gives what ruamel's reader gave for what gitrelstate writes, so
    every earlier state_id still holds (dates aside: YAML 1.2 core schema)."""
    sample = {
        "a": ["0.19", "yes", "1_000", "x: y", "", "é", "a b", 1.5e-05, -0.0, 10**18],
        "b": {"c": None, "d": True, "e": "2024-01-01T00:00:00Z"},
        "f": [[1, [2]], {}],
    }
    text = yamlio.dumps(sample)
    assert yamlio.loads(text, "x") == yamlio._yaml().load(text) == sample
    assert not math.isnan(yamlio.loads("x: 1.5\n", "x")["x"])


def test_core_schema_is_ruamels_yaml_12_table() -> None:
    """The reader's copy of the implicit resolvers is ruamel's own (YAML 1.2 entries):
    a plain scalar means what it meant when every earlier state file was written."""
    from ruamel.yaml.resolver import implicit_resolvers

    theirs = [(t, r.pattern, list(f)) for v, t, r, f in implicit_resolvers if (1, 2) in v]
    assert [(t, p, list(f)) for t, p, f in yamlio.CORE_SCHEMA] == theirs


def test_reading_does_not_import_ruamel() -> None:
    """Start-up: a command that only reads state files never imports the writer's library."""
    code = (
        "import sys; from gitrelstate.state import yamlio; yamlio.loads('a: [1, x]', 'x');"
        "print('ruamel' in ' '.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
