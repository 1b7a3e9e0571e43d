"""Hostile or unusual input: pointers, manifests, run records, release files and configs
that arrive through Git from someone else, and names in the work tree.

Every one is either valid (exit 0) or refused with ``error:`` and ``hint:`` (exit 1; 2 for
diff's "trouble"), never a traceback (exit 3); nothing is written outside the repository
and nothing there is destroyed. Property-based (hypothesis) plus a fixed corpus; the
default run tries a modest number of examples, ``pytest -m slow`` many more
(docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gitrelstate import hashing
from gitrelstate.errors import StateFileError
from gitrelstate.state import config as config_model
from gitrelstate.state import yamlio
from gitrelstate.state.model import check_hash
from gitrelstate.store.objects import ObjectStore
from tests.helpers.cli import Runner, git, make_repo
from tests.helpers.trees import cache_objects, read_tree, write_tree

HEX = "0" * 64
FAST = int(os.environ.get("RELSTATE_HOSTILE_EXAMPLES", "6"))
MANY = 250

# How many hostile inputs were tried, by kind (docs/reliability.md quotes the totals).
TRIED: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def report_tried() -> Iterator[None]:
    yield
    if TRIED:
        print(f"\nhostile inputs tried: {sum(TRIED.values())} {json.dumps(TRIED)}")


# -- the sandbox: a repository with everything in it, and a sentinel folder beside it ----


@dataclass
class Sandbox:
    root: Path
    pristine: Path
    repo: Path
    outside: Path
    guarded: dict[str, bytes] = field(default_factory=dict)

    def reset(self) -> None:
        """Back to the pristine state (every example starts from the same repository)."""
        if self.repo.parent.exists():
            shutil.rmtree(self.repo.parent)
        shutil.copytree(self.pristine, self.repo.parent, symlinks=True)

    def snapshot(self) -> dict[str, bytes]:
        """Everything beside the repository, plus files inside it nothing may destroy."""
        found = {f"outside/{k}": v for k, v in read_tree(self.outside).items()}
        found.update(
            (name, (self.repo / name).read_bytes())
            for name in ("code.py", ".git/config", ".git/HEAD", ".relstate/.gitignore")
        )
        found["listing"] = "\n".join(sorted(p.name for p in self.root.iterdir())).encode()
        found["above"] = "\n".join(sorted(p.name for p in self.repo.parent.iterdir())).encode()
        return found


def _build(root: Path, run: Runner) -> Sandbox:
    world = root / "pristine"
    repo = make_repo(world / "repo", run)
    (repo / "code.py").write_text("print('hi')\n")
    (repo / "params.yaml").write_text("lr: 0.1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "code")
    write_tree(repo / "data", {"a.txt": "alpha\n", "sub/b.txt": "beta\n" * 100})
    (repo / "model.bin").write_bytes(os.urandom(70_000))
    run(repo, "track", "data", "model.bin")
    run(repo, "remote", "add", "origin", "../remote")
    run(
        repo,
        "run",
        "-n",
        "train",
        "-d",
        "data",
        "-p",
        "params.yaml:lr",
        "-o",
        "out.txt",
        "--",
        sys.executable,
        "-c",
        "open('out.txt', 'w').write('trained')",
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    run(repo, "release", "r1", "--model", "out.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release")
    run(repo, "push")
    write_tree(world / "outside", {"secret.txt": "do not touch\n", "nested/keep.bin": "x" * 10})
    sandbox = Sandbox(root, world, root / "world" / "repo", root / "world" / "outside")
    sandbox.reset()
    return sandbox


_SANDBOXES: dict[Path, Sandbox] = {}


@pytest.fixture
def sandbox(tmp_path_factory: pytest.TempPathFactory, run: Runner) -> Sandbox:
    """One sandbox per test module run, reset before each use."""
    key = Path(str(tmp_path_factory.getbasetemp()))
    if key not in _SANDBOXES:
        _SANDBOXES[key] = _build(tmp_path_factory.mktemp("hostile"), run)
    box = _SANDBOXES[key]
    box.reset()
    return box


def _commands(kind: str) -> list[tuple[str, ...]]:
    common: list[tuple[str, ...]] = [("status",), ("verify",), ("list",)]
    return {
        "pointer": [
            *common,
            ("checkout",),
            ("checkout", "--force"),
            ("push",),
            ("diff", "HEAD", "--layer", "data"),
            ("gc", "--dry-run"),
            ("trace", "data"),
        ],
        "manifest": [
            *common,
            ("checkout", "--force"),
            ("push",),
            ("diff", "HEAD", "--layer", "data"),
        ],
        "record": [
            *common,
            ("show", "train"),
            ("show", "train", "--json"),
            ("diff", "HEAD", "--layer", "pipeline", "--layer", "data"),
            ("diff", "r1", "train", "--layer", "environment", "--layer", "metrics"),
            ("checkout", "--run", "train"),
            ("push", "--run", "train"),
            ("env", "show", "train"),
            ("trace", "out.txt"),
        ],
        "release": [
            *common,
            ("show", "r1", "--json"),
            ("diff", "r1", "HEAD", "--layer", "data", "--layer", "model"),
            ("diff", "r1", "train", "--layer", "environment", "--layer", "pipeline"),
            ("checkout", "--release", "r1"),
            ("push", "--release", "r1"),
            ("gc", "--dry-run"),
        ],
        "config": [*common, ("remote", "list"), ("push",), ("fetch",), ("checkout",)],
    }[kind]


def _check_outcome(box: Sandbox, args: tuple[str, ...], code: int, err: str) -> None:
    shown = " ".join(args)
    assert code in (0, 1, 2), f"{shown}: exit {code}\n{err}"
    assert "Traceback" not in err and "error: unexpected " not in err, f"{shown}:\n{err}"
    if code == 2:
        assert args[0] == "diff", f"{shown}: exit 2 is diff's trouble only\n{err}"
    if code == 1 and args[0] == "trace" and "error:" not in err:
        return  # trace's answer "nothing produced it" (exit 1, like grep)
    if code != 0:
        assert err.startswith("error: ") or "\nerror: " in err, f"{shown}:\n{err}"
        assert "\nhint: " in err, f"{shown}: refused without a hint\n{err}"


def _attack(box: Sandbox, run: Runner, kind: str, write: Callable[[Path], None]) -> None:
    """Write the hostile input into a fresh copy of the sandbox and run every command that
    reads it; check what must hold whatever it contains."""
    box.reset()
    before = box.snapshot()
    write(box.repo)
    for args in _commands(kind):
        result = run(box.repo, *args, expect=None)
        _check_outcome(box, args, result.code, result.err)
        assert box.snapshot() == before, f"{' '.join(args)} wrote outside or destroyed a file"
    TRIED[kind] = TRIED.get(kind, 0) + 1


# -- hypothesis strategies ------------------------------------------------------------------

HAZARD_PATHS = [
    "",
    ".",
    "..",
    "../x",
    "../../outside/secret.txt",
    "a/../../x",
    "/etc/passwd",
    "/",
    "C:\\Windows",
    "c:x",
    "a\\..\\b",
    "a\x00b",
    "a\nb",
    "a/./b",
    "a//b",
    "a/",
    ".git",
    ".GIT/hooks/pre-commit",
    "x/.Git/config",
    ".relstate/config.yaml",
    ".relstate-tmp-1-x",
    "x" * 5000,
    "y" * 300,
    "é/ü/𝔘",
    "\u202eevil",
    "data",
    "model.bin",
    "sub/b.txt",
    "A.TXT",
    "a.txt",
    "null",
    "true",
    "123",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
    | st.sampled_from(HAZARD_PATHS)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
paths = st.sampled_from(HAZARD_PATHS) | st.lists(
    st.sampled_from(["..", ".", "", "a", ".git", "b\\c", "x" * 256, "é", "\x01"]),
    min_size=1,
    max_size=6,
).map("/".join)
hashes = st.sampled_from(
    [f"blake3:{HEX}", "blake3:" + "A" * 64, "sha256:" + "0" * 64, "blake3:", "", f"blake3:{HEX}\n"]
)
versions = st.sampled_from([1, 2, 0, -1, 10**30, True, "1", 1.0, None, [1]])


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], path_keys: list[str]) -> dict[str, Any]:
    """``base`` with one to three keys set to hazards (paths where paths go), removed,
    or added."""
    doc: dict[str, Any] = json.loads(json.dumps(base, default=str))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["path", "value", "delete", "add", "version", "kind"]))
        keys = list(doc)
        if action == "path" and path_keys:
            _set_dotted(doc, draw(st.sampled_from(path_keys)), draw(paths))
        elif action == "value" and keys:
            # Half the time one of the typed keys this kind knows (nested ones included).
            typed = bool(path_keys) and draw(st.booleans())
            if typed:
                _set_dotted(doc, draw(st.sampled_from(path_keys)), draw(values))
            else:
                doc[draw(st.sampled_from(keys))] = draw(values)
        elif action == "delete" and keys:
            doc.pop(draw(st.sampled_from(keys)), None)
        elif action == "add":
            doc[draw(st.text(min_size=1, max_size=10))] = draw(values)
        elif action == "version":
            doc["relstate"] = draw(versions)
        elif action == "kind":
            doc["kind"] = draw(st.sampled_from(["data", "run", "release", "config", "x", 1]))
    return doc


def _set_dotted(doc: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        doc = doc[int(part)] if isinstance(doc, list) else doc.setdefault(part, {})
        if not isinstance(doc, (dict, list)):
            return
    if isinstance(doc, list):
        if doc:
            doc[int(last) % len(doc)] = value
    else:
        doc[last] = value


@st.composite
def encoded(draw: st.DrawFn, doc: dict[str, Any]) -> bytes:
    """The document as YAML, sometimes with a hazard of the encoding itself."""
    try:
        text = yamlio.dumps(doc)
    except Exception:
        text = json.dumps(doc, default=str)
    raw = text.encode("utf-8")
    # Mostly well-formed YAML, so that the values reach the schema checks.
    hazard = draw(st.sampled_from(["none"] * 12 + ["bom", "crlf", "bytes", "alias", "deep", "dup"]))
    if hazard == "bom":
        return b"\xef\xbb\xbf" + raw
    if hazard == "crlf":
        return raw.replace(b"\n", b"\r\n")
    if hazard == "bytes":
        at = draw(st.integers(0, len(raw)))
        return (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80"]))
            + raw[at:]
        )
    if hazard == "alias":
        return raw + b"bomb: &a [x, x]\nboom: [*a, *a]\n"
    if hazard == "deep":
        return raw + b"deep: " + b"[" * 200 + b"]" * 200 + b"\n"
    return raw + raw.splitlines(keepends=True)[0]  # a duplicate key


def _doc(box: Sandbox, rel: str) -> dict[str, Any]:
    data = yamlio.read(box.pristine / "repo" / rel)
    assert isinstance(data, dict)
    return data


HYPOTHESIS = settings(
    deadline=None,
    database=None,
    # Each example runs a dozen commands: shrinking a failure would take minutes, and the
    # failing input is shown as it is.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _fuzz(kind: str, examples: int) -> Callable[..., None]:
    """A property test of ``kind`` with ``examples`` examples."""

    @settings(HYPOTHESIS, max_examples=examples)
    @given(data=st.data())
    def check(sandbox: Sandbox, run: Runner, data: st.DataObject) -> None:
        attack = data.draw(ATTACKS[kind](sandbox), label=kind)
        _attack(sandbox, run, kind, attack)

    return check


def _pointer_attack(box: Sandbox) -> st.SearchStrategy[Callable[[Path], None]]:
    name = "data.relstate.yaml"
    base = _doc(box, name)
    doc = mutated(base, ["path", "hash", "size", "nfiles", "exec"]) | st.fixed_dictionaries(
        {"relstate": versions, "kind": st.just("data"), "path": paths, "hash": hashes}
    )
    return st.tuples(doc.flatmap(encoded), st.sampled_from([name, "model.bin.relstate.yaml"])).map(
        lambda item: lambda repo: (repo / item[1]).write_bytes(item[0])
    )


@st.composite
def _manifest_bytes(draw: st.DrawFn) -> bytes:
    entries = draw(
        st.lists(
            st.tuples(paths | st.just("a.txt"), st.sampled_from([HEX, "zz", 5]), values, values)
            | st.lists(values, max_size=5),
            min_size=1,
            max_size=5,
        )
    )
    head = {
        "relstate": draw(versions),
        "kind": "manifest",
        "algo": draw(st.sampled_from(["blake3", "md5"])),
    }
    try:
        text = json.dumps({**head, "entries": entries}, default=str)
    except ValueError:
        text = "{"
    return text.encode("utf-8", "surrogatepass")


def _manifest_attack(box: Sandbox) -> st.SearchStrategy[Callable[[Path], None]]:
    def write(raw: bytes) -> Callable[[Path], None]:
        def apply(repo: Path) -> None:
            hex_ = hashing.hash_bytes(raw)
            store = ObjectStore(repo / ".git" / "relstate" / "cache")
            store.add_bytes(hex_, raw)
            store.close()
            (repo / "data.relstate.yaml").write_text(
                f"relstate: 1\nkind: data\npath: data\nhash: blake3:{hex_}\nsize: 5\nnfiles: 1\n"
            )

        return apply

    return _manifest_bytes().map(write)


def _record_attack(box: Sandbox) -> st.SearchStrategy[Callable[[Path], None]]:
    rel = ".relstate/runs/train.yaml"
    base = _doc(box, rel)
    keys = ["name", "wdir", "command", "deps.0.path", "outs.0.path", "outs.0.hash", "deps.0.hash"]
    keys += ["params", "metrics", "environment", "duration", "exit_status", "code", "outs.0.size"]
    return (
        mutated(base, keys)
        .flatmap(encoded)
        .map(lambda raw: lambda repo: (repo / rel).write_bytes(raw))
    )


def _release_attack(box: Sandbox) -> st.SearchStrategy[Callable[[Path], None]]:
    rel = ".relstate/releases/r1.yaml"
    base = _doc(box, rel)
    keys = ["name", "state_id", "data.0.path", "data.1.path", "data.0.hash", "model.path"]
    keys += ["model.reference", "runs.0.outs.0.path", "runs.0.name", "code", "created"]
    return (
        mutated(base, keys)
        .flatmap(encoded)
        .map(lambda raw: lambda repo: (repo / rel).write_bytes(raw))
    )


def _config_attack(box: Sandbox) -> st.SearchStrategy[Callable[[Path], None]]:
    base = _doc(box, ".relstate/config.yaml")
    urls = st.sampled_from(
        ["", " ", "zzz://x", "memory://fuzz", "file://", "local://", "a\x00b", "x" * 5000, "~"]
    )
    keys = ["remotes.origin.url", "remotes.origin.options", "remotes.origin.client"]
    keys += ["default_remote", "cache.link", "environment.variables", "hooks.stale_runs"]
    doc = mutated(base, keys) | st.fixed_dictionaries(
        {
            "relstate": st.just(1),
            "kind": st.just("config"),
            "remotes": st.fixed_dictionaries(
                {"origin": st.fixed_dictionaries({"url": urls, "options": values})}
            ),
        }
    )
    where = st.sampled_from([".relstate/config.yaml", ".relstate/config.local.yaml"])
    return st.tuples(doc.flatmap(encoded), where).map(
        lambda item: lambda repo: (repo / item[1]).write_bytes(item[0])
    )


ATTACKS: dict[str, Callable[[Sandbox], st.SearchStrategy[Callable[[Path], None]]]] = {
    "pointer": _pointer_attack,
    "manifest": _manifest_attack,
    "record": _record_attack,
    "release": _release_attack,
    "config": _config_attack,
}

test_hostile_pointers = _fuzz("pointer", FAST)
test_hostile_manifests = _fuzz("manifest", FAST)
test_hostile_run_records = _fuzz("record", FAST)
test_hostile_release_files = _fuzz("release", FAST)
test_hostile_configs = _fuzz("config", FAST)

test_many_hostile_pointers = pytest.mark.slow(_fuzz("pointer", MANY))
test_many_hostile_manifests = pytest.mark.slow(_fuzz("manifest", MANY))
test_many_hostile_run_records = pytest.mark.slow(_fuzz("record", MANY))
test_many_hostile_release_files = pytest.mark.slow(_fuzz("release", MANY))
test_many_hostile_configs = pytest.mark.slow(_fuzz("config", MANY))


# -- the fixed corpus ---------------------------------------------------------------------------


def _pointer(path: str, exec_: bool = False, hash_: str = f"blake3:{HEX}") -> str:
    return f"relstate: 1\nkind: data\npath: {path}\nhash: {hash_}\nsize: 1\n" + (
        "exec: true\n" if exec_ else ""
    )


BILLION_LAUGHS = "relstate: 1\nkind: data\n" + "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["lol"] * 9) + "]\n"
    for i in range(10)
)
DEEP = "relstate: 1\nkind: data\nx: " + "[" * 300 + "]" * 300 + "\n"
CORPUS: dict[str, tuple[str, str, bytes]] = {
    "billion laughs": ("pointer", "data.relstate.yaml", BILLION_LAUGHS.encode()),
    "deep nesting": ("pointer", "data.relstate.yaml", DEEP.encode()),
    "deep nesting in a record": ("record", ".relstate/runs/train.yaml", DEEP.encode()),
    "python tag": (
        "pointer",
        "data.relstate.yaml",
        b"relstate: 1\nkind: data\npath: !!python/object/apply:os.system [id]\n",
    ),
    "not UTF-8": ("pointer", "data.relstate.yaml", b"relstate: 1\nkind: data\npath: \xff\n"),
    "future version": (
        "pointer",
        "data.relstate.yaml",
        _pointer("data").replace("1", "2", 1).encode(),
    ),
    "future record": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 99\nkind: run\nname: train\n",
    ),
    "future release": (
        "release",
        ".relstate/releases/r1.yaml",
        b"relstate: 99\nkind: release\nname: r1\n",
    ),
    "future config": ("config", ".relstate/config.yaml", b"relstate: 7\nkind: config\n"),
    "bool version": ("pointer", "data.relstate.yaml", b"relstate: true\nkind: data\n"),
    "a list": ("pointer", "data.relstate.yaml", b"- relstate: 1\n"),
    "empty": ("pointer", "data.relstate.yaml", b""),
    "duplicate key": (
        "pointer",
        "data.relstate.yaml",
        (_pointer("data") + "path: model.bin\n").encode(),
    ),
    "absolute path": ("pointer", "data.relstate.yaml", _pointer("/etc").encode()),
    "dot-dot": ("pointer", "data.relstate.yaml", _pointer("..").encode()),
    "drive letter": ("pointer", "data.relstate.yaml", _pointer("'C:x'").encode()),
    "backslash": ("pointer", "data.relstate.yaml", _pointer("'a\\b'").encode()),
    "NUL": ("pointer", "data.relstate.yaml", _pointer('"da\\0ta"').encode()),
    "git dir": ("pointer", ".git.relstate.yaml", _pointer(".git").encode()),
    "case-folded git dir": ("pointer", ".GIT.relstate.yaml", _pointer(".GIT", exec_=True).encode()),
    "record escapes": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: train\ncommand: [x]\nwdir: ../..\n",
    ),
    "record wrong types": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: train\ncommand: [x]\nwdir: .\nduration: fast\n"
        b"exit_status: [1]\nparams: [1]\nmetrics: 5\n",
    ),
    "record duration is text": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: train\ncommand: [x]\nwdir: .\nduration: fast\n",
    ),
    "record exit status is a mapping": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: train\ncommand: [x]\nwdir: .\nexit_status: {a: 1}\n",
    ),
    "record params of the wrong shape": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: train\ncommand: [x]\nwdir: .\nparams: {p.yaml: 5}\n"
        b"metrics: {m.json: [1]}\nenvironment: {packages: 7, variables: [x]}\n",
    ),
    "record environment of the wrong shape": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: train\ncommand: [x]\nwdir: .\n"
        b"environment: {packages: 7, variables: [x], interpreter: 3, hardware: [1]}\n",
    ),
    "record code of the wrong shape": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: train\ncommand: [x]\nwdir: .\n"
        b"code: {commit: [1], dirty: yes, diff: 5}\n",
    ),
    "record named otherwise": (
        "record",
        ".relstate/runs/train.yaml",
        b"relstate: 1\nkind: run\nname: other\ncommand: [x]\nwdir: .\n",
    ),
    "release edited": ("release", ".relstate/releases/r1.yaml", b""),  # filled in below
    "release data escapes": ("release", ".relstate/releases/r1.yaml", b""),
    "config secret and junk": (
        "config",
        ".relstate/config.yaml",
        b"relstate: 1\nkind: config\nremotes:\n  origin:\n    url: memory://x\n"
        b"    options:\n      password: hunter2\n      nonsense: {a: [1, 2]}\n",
    ),
    "config bad remote name": (
        "config",
        ".relstate/config.yaml",
        b"relstate: 1\nkind: config\nremotes:\n  ../x:\n    url: /tmp\n",
    ),
    "config link junk": (
        "config",
        ".relstate/config.yaml",
        b"relstate: 1\nkind: config\ncache:\n  link: [teleport]\n",
    ),
}


def _corpus_release(box: Sandbox, name: str) -> bytes:
    text = (box.pristine / "repo" / ".relstate" / "releases" / "r1.yaml").read_text()
    if name == "release edited":
        return text.replace("message: ''", "message: edited").encode()
    return text.replace("  - path: data\n", "  - path: ../outside\n", 1).encode()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_corpus(sandbox: Sandbox, run: Runner, name: str) -> None:
    kind, rel, raw = CORPUS[name]
    if kind == "release" and not raw:
        raw = _corpus_release(sandbox, name)

    def write(repo: Path) -> None:
        (repo / rel).write_bytes(raw)

    _attack(sandbox, run, kind, write)


def test_huge_state_file_is_refused(sandbox: Sandbox, run: Runner) -> None:
    def write(repo: Path) -> None:
        with open(repo / "data.relstate.yaml", "wb") as f:
            f.write(_pointer("data").encode())
            f.write(b"# " + b"x" * (65 * 1024 * 1024) + b"\n")

    _attack(sandbox, run, "pointer", write)
    box_result = run(sandbox.repo, "status", expect=1)
    assert "more than a data pointer may hold (64.0 KiB)" in box_result.err


# -- symlinks, names and case in the work tree ----------------------------------------------------


def test_pointer_cannot_write_into_git_through_a_symlink(repo: Path, run: Runner) -> None:
    # The attack: a committed symlink to .git plus a pointer whose data lies behind it.
    os.symlink(".git", repo / "x")
    (repo / "x.relstate.yaml").write_text(_pointer("x"))
    result = run(repo, "checkout", "--force", expect=1)
    assert "resolves into .git" in result.err and "hint:" in result.err
    (repo / "x.relstate.yaml").unlink()
    (repo / "a.relstate.yaml").write_text(_pointer("x/hooks/post-checkout", exec_=True))
    result = run(repo, "checkout", "--force", expect=1)
    assert "beside the pointer" in result.err
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()


def test_symlinked_folder_inside_data_cannot_redirect_writes(
    repo: Path, run: Runner, tmp_path: Path
) -> None:
    write_tree(repo / "data", {"sub/a.txt": "a", "b.txt": "b"})
    run(repo, "track", "data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("precious")
    shutil.rmtree(repo / "data" / "sub")
    os.symlink(outside, repo / "data" / "sub")
    result = run(repo, "checkout", "--force", expect=1)
    assert "hint:" in result.err
    assert (outside / "a.txt").read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == ["a.txt"]


def test_symlink_pointing_out_of_the_repository_is_not_tracked(
    repo: Path, run: Runner, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere.txt").write_text("outside")
    (repo / "data").mkdir()
    os.symlink(tmp_path / "elsewhere.txt", repo / "data" / "link.txt")
    result = run(repo, "track", "data", expect=1)
    assert "leaves the repository" in result.err and "hint:" in result.err
    assert not (repo / "data.relstate.yaml").exists()


def test_pointer_must_describe_its_own_name(repo: Path, run: Runner) -> None:
    (repo / ".gitignore").write_text("keep\n")
    (repo / "a.relstate.yaml").write_text(_pointer(".gitignore"))
    result = run(repo, "checkout", "--force", expect=1)
    assert "can only describe 'a'" in result.err
    assert (repo / ".gitignore").read_text() == "keep\n"


@pytest.mark.parametrize("name", ["back\\slash", "new\nline", "tab\tname", "del\x7f"])
def test_names_that_state_files_cannot_hold_are_refused(repo: Path, run: Runner, name: str) -> None:
    write_tree(repo / "data", {"ok.txt": "x"})
    (repo / "data" / name).write_text("x")
    result = run(repo, "track", "data", expect=1)
    assert result.err.startswith("error: ") and "Traceback" not in result.err
    assert "hint:" in result.err
    assert not (repo / "data.relstate.yaml").exists()
    (repo / name).write_text("x")
    run(repo, "track", name, expect=1)
    assert not list(repo.glob("*.relstate.yaml"))


def test_non_utf8_file_names_are_refused(repo: Path, run: Runner) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "ok.txt").write_text("x")
    os.close(os.open(os.fsencode(repo / "data") + b"/bad\xff.txt", os.O_CREAT | os.O_WRONLY))
    result = run(repo, "track", "data", expect=1)
    assert "not valid UTF-8" in result.err and "hint:" in result.err
    assert not (repo / "data.relstate.yaml").exists()


def test_very_long_paths(repo: Path, run: Runner) -> None:
    # Deep but legal: 40 folders of 60 characters (2,440 bytes); then one name too long.
    deep = "/".join(["d" * 60] * 40)
    write_tree(repo / "data", {f"{deep}/f.txt": "deep"})
    run(repo, "track", "data")
    shutil.rmtree(repo / "data")
    run(repo, "checkout")
    assert (repo / "data" / deep / "f.txt").read_text() == "deep"
    raw = (
        '{"relstate":1,"kind":"manifest","algo":"blake3","entries":[\n'
        + json.dumps([f"{'e' * 200}/" * 25 + "f", hashing.hash_bytes(b"x"), 1, False])
        + "\n]}\n"
    ).encode()
    hex_ = hashing.hash_bytes(raw)
    store = ObjectStore(repo / ".git" / "relstate" / "cache")
    store.add_bytes(hex_, raw)
    store.close()
    (repo / "data.relstate.yaml").write_text(
        f"relstate: 1\nkind: data\npath: data\nhash: blake3:{hex_}\nsize: 1\nnfiles: 1\n"
    )
    result = run(repo, "status", expect=0)
    assert "longer than 4096 bytes" in result.out or "unknown" in result.out
    result = run(repo, "checkout", "--force", expect=1)
    assert "longer than 4096 bytes" in result.err and "hint:" in result.err


def test_case_folding_collisions_are_faithful_on_a_case_sensitive_disk(
    repo: Path, run: Runner
) -> None:
    """Names differing only in case are distinct files here (Linux): both round-trip."""
    files = {"Readme.txt": "upper", "readme.txt": "lower", "A/x": "1", "a/x": "2"}
    write_tree(repo / "data", files)
    run(repo, "track", "data")
    original = read_tree(repo / "data")
    shutil.rmtree(repo / "data")
    run(repo, "checkout")
    assert read_tree(repo / "data") == original == {k: v.encode() for k, v in files.items()}


@pytest.mark.parametrize("name", [".git", ".GIT", ".Git"])
def test_git_folders_and_files_inside_data_are_skipped_in_any_case(
    repo: Path, run: Runner, name: str
) -> None:
    """A nested repository (or a submodule's '.git' file) inside tracked data is not data:
    state files can never name '.git' in any case, so it is skipped, not stored in a
    listing that could never be read back."""
    write_tree(
        repo / "data", {"ok.txt": "ok", f"nested/{name}/config": "x", f"sub/{name}": "gitdir: x"}
    )
    run(repo, "track", "data")
    assert yamlio.read(repo / "data.relstate.yaml")["nfiles"] == 1
    assert run(repo, "status", "--exit-code").code == 0
    shutil.rmtree(repo / "data")
    run(repo, "checkout")
    assert read_tree(repo / "data") == {"ok.txt": b"ok"}


def test_hash_with_trailing_newline_is_refused() -> None:
    with pytest.raises(StateFileError):
        check_hash(f"blake3:{HEX}\n", "f")


def test_local_options_merge_into_nested_shared_options() -> None:
    shared = {
        "remotes": {
            "s3": {
                "url": "s3://b",
                "options": {"client_kwargs": {"endpoint_url": "http://127.0.0.1:1"}},
            }
        }
    }
    local = {"remotes": {"s3": {"options": {"client_kwargs": {"aws_secret_access_key": "z"}}}}}
    merged = config_model.merge(shared, local)
    assert dict(merged.remotes["s3"].options) == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:1", "aws_secret_access_key": "z"}
    }


@pytest.mark.parametrize(
    "option",
    [
        "headers.Authorization=Bearer x",
        "connection_string=a",
        "passphrase=p",
        "apikey=k",
        "session_token=t",
    ],
)
def test_more_secret_option_names_are_refused(repo: Path, run: Runner, option: str) -> None:
    assert "--local" in run(repo, "remote", "add", "s", "s3://b/p", "-o", option, expect=1).err


def test_hand_written_secret_in_committed_config_warns(repo: Path, run: Runner) -> None:
    (repo / ".relstate" / "config.yaml").write_text(
        "relstate: 1\nkind: config\nremotes:\n  s:\n    url: /tmp/x\n"
        "    options:\n      password: hunter2\n"
    )
    result = run(repo, "remote", "list")
    assert "warning:" in result.err and "password" in result.err
    assert "hunter2" not in result.out + result.err


def test_hardlink_checkout_never_exposes_cache_objects_to_writes(repo: Path, run: Runner) -> None:
    # Larger than a pack takes: small objects are packed and always copied.
    write_tree(repo / "data", {"tool.sh": "#!/bin/sh\n", "plain.txt": "p" * 100_000})
    os.chmod(repo / "data" / "tool.sh", 0o755)
    (repo / ".relstate" / "config.yaml").write_text(
        "relstate: 1\nkind: config\ncache:\n  link: [hardlink, copy]\n"
    )
    run(repo, "track", "data")
    for p in (repo / "data").iterdir():
        p.unlink()
    run(repo, "checkout")
    assert os.stat(repo / "data" / "plain.txt").st_nlink == 2  # hard-linked
    assert os.stat(repo / "data" / "tool.sh").st_nlink == 1  # executables get a copy
    assert os.stat(repo / "data" / "tool.sh").st_mode & 0o111
    for obj in cache_objects(repo):
        assert obj.stat().st_mode & 0o777 == 0o444
    assert run(repo, "status", "--exit-code").code == 0


def test_local_url_scheme_is_understood(repo: Path, tmp_path: Path, run: Runner) -> None:
    (repo / "f").write_text("x")
    run(repo, "track", "f")
    run(repo, "remote", "add", "l", f"local://{tmp_path / 'store'}")
    run(repo, "push")
    assert (tmp_path / "store" / "blake3").is_dir()


def test_glob_characters_in_names_are_literal(repo: Path, run: Runner) -> None:
    (repo / "a[1].bin").write_text("x")
    (repo / "a1.bin").write_text("tracked by git")
    git(repo, "add", "a1.bin")
    run(repo, "track", "a[1].bin")  # not confused with the git-tracked a1.bin
