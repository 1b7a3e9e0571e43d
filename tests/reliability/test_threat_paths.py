"""Threat model, class 3: every path a state file names stays inside the work tree.

Records, and the files committed beside them, can name ``../creds.json``, an absolute
path, or a path that is fine by its spelling but runs through a committed symlink out
of the tree. Read or written, none of them may reach outside: a secret placed outside
the repository must never appear in any output, note or record, and a file outside
must never be written. Real git, the real CLI.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from gitrelstate import hashing
from gitrelstate.state import yamlio
from tests.helpers.cli import Result, Runner, commit_all, git, make_repo

SECRET = "SECRET-OUTSIDE-7f3a"
SECRET_NUMBER = 0.7531902468  # metrics layers show numbers only


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the repository holding a secret in several shapes."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "creds.json").write_text(json.dumps({"token": SECRET, "acc": SECRET_NUMBER}))
    (folder / "creds.yaml").write_text(f"token: {SECRET}\nlr: 0.5\n")
    (folder / "victim.yaml").write_text("lr: 0.1\n")
    (folder / "requirements.txt").write_text(f"{SECRET}==1.0\n")
    return folder


@pytest.fixture
def recorded(tmp_path: Path, run: Runner) -> Path:
    """A repository with run 'train' recorded and committed: params.yaml (a params file
    and so a dependency), out.txt (an output), metrics.json (metrics)."""
    repo = make_repo(tmp_path / "repo", run)
    (repo / "params.yaml").write_text("lr: 0.1\n")
    commit_all(repo, "code")
    run(
        repo,
        "run",
        "-n",
        "train",
        "-p",
        "params.yaml",
        "-o",
        "out.txt",
        "-m",
        "metrics.json",
        "--",
        sys.executable,
        "-c",
        "open('out.txt','w').write('x'); open('metrics.json','w').write('{\"acc\": 0.9}')",
    )
    commit_all(repo, "run")
    return repo


def _record_path(repo: Path, name: str = "train") -> Path:
    return repo / ".relstate" / "runs" / f"{name}.yaml"


def _edit(repo: Path, name: str = "train", **changes: object) -> None:
    path = _record_path(repo, name)
    doc = yamlio.loads(path.read_text("utf-8"), path.name)
    doc.update(changes)
    path.write_text(yamlio.dumps(doc), "utf-8")


def _everything(repo: Path, results: list[Result]) -> str:
    """Every output, plus every file gitrelstate may have written in the repository
    (records, pointers, notes and the cache's small objects)."""
    texts = [r.out + r.err for r in results]
    notes = git(repo, "notes", "--ref=relstate", "list") if (repo / ".git").exists() else ""
    texts.append(notes)
    for path in repo.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20:
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


def _untouched(path: Path, before: tuple[bytes, int]) -> bool:
    return (path.read_bytes(), path.stat().st_mtime_ns) == before


def _state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


# -- names a record holds -----------------------------------------------------------------


def _named_outside(outside: Path) -> dict[str, dict[str, object]]:
    creds = str(outside / "creds.json")
    return {
        "params-dotdot": {"params": {"../outside/creds.json": {"lr": 0.1}}},
        "params-absolute": {"params": {creds: {"lr": 0.1}}},
        "metrics-absolute": {"metrics": {creds: {"acc": 0.9}}},
        "metrics-dotdot": {"metrics": {"../../outside/creds.json": {"acc": 0.9}}},
        "param-keys-dotdot": {"param_keys": {"../outside/creds.json": ["token"]}},
        "params-into-git": {"params": {".git/config": {"lr": 0.1}}},
    }


READERS = {
    "diff": (("diff", "HEAD~1"), 2),
    "diff-md": (("diff", "HEAD~1", "--md"), 2),
    "diff-json": (("diff", "HEAD~1", "--json"), 2),
    "show": (("show", "train"), 1),
    "reproduce": (("reproduce", "train"), 2),
    "rerun": (("run", "train"), 1),
    "env-check": (("env", "check", "train"), 2),
}


def _named_case(
    recorded: Path, outside: Path, run: Runner, variant: str, reader: str
) -> tuple[Result, str]:
    _edit(recorded, "train", **_named_outside(outside)[variant])
    commit_all(recorded, "a record naming a file outside")
    args, code = READERS[reader]
    result = run(recorded, *args, expect=code)
    return result, _everything(recorded, [result])


@pytest.mark.parametrize(
    ("variant", "reader"),
    [("params-dotdot", "diff"), ("params-absolute", "reproduce"), ("metrics-absolute", "show")],
)
def test_a_record_naming_a_path_outside_is_refused_and_nothing_leaks(
    recorded: Path, outside: Path, run: Runner, variant: str, reader: str
) -> None:
    result, everything = _named_case(recorded, outside, run, variant, reader)
    assert "error:" in result.err and (
        "outside" in result.err or "absolute" in result.err or "normalised" in result.err
    )
    assert SECRET not in everything


@pytest.mark.slow
@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(
    "variant",
    [
        "params-dotdot",
        "params-absolute",
        "metrics-absolute",
        "metrics-dotdot",
        "param-keys-dotdot",
        "params-into-git",
    ],
)
def test_a_record_naming_a_path_outside_is_refused_everywhere(
    recorded: Path, outside: Path, run: Runner, variant: str, reader: str
) -> None:
    result, everything = _named_case(recorded, outside, run, variant, reader)
    assert "error:" in result.err and "Traceback" not in result.err
    assert SECRET not in everything


@pytest.mark.slow
@pytest.mark.parametrize(
    "env_vars", [["OK", 7], "NOT-A-LIST", ["A\x1b[2JB"], [""]], ids=["int", "str", "esc", "empty"]
)
def test_a_record_with_malformed_env_vars_is_refused(
    recorded: Path, run: Runner, env_vars: object
) -> None:
    _edit(recorded, env_vars=env_vars)
    result = run(recorded, "show", "train", expect=1)
    assert "'env_vars' must be a list of names" in result.err


# -- symlinks committed on the way --------------------------------------------------------


def test_params_restored_by_reproduce_never_land_outside(
    recorded: Path, outside: Path, run: Runner
) -> None:
    """At the commit, params.yaml is a symlink to a file outside; the record wants other
    values there. reproduce must not rewrite the outside file."""
    victim = outside / "victim.yaml"
    before = _state(victim)
    (recorded / "params.yaml").unlink()
    (recorded / "params.yaml").symlink_to(victim)
    commit_all(recorded, "params now a symlink")
    head = git(recorded, "rev-parse", "HEAD").strip()
    record = yamlio.loads(_record_path(recorded).read_text(), "train.yaml")
    _edit(recorded, code={**record["code"], "commit": head}, params={"params.yaml": {"lr": 0.9}})
    commit_all(recorded, "record at that commit, other params")
    doc = json.loads(run(recorded, "reproduce", "train", "--json", expect=None).out)
    assert _untouched(victim, before)
    [params] = doc["params"]
    assert params["restored"] is False and "resolves outside" in params["problem"]
    [check] = [i for i in doc["inputs"] if i["path"] == "params.yaml"]
    assert check["match"] is False and "resolves outside" in check["note"]


def test_lock_files_symlinked_out_of_the_tree_are_not_digested(
    recorded: Path, outside: Path, run: Runner
) -> None:
    (recorded / "requirements.txt").symlink_to(outside / "requirements.txt")
    (recorded / "requirements-dev.txt").write_text("pytest\n")
    result = run(recorded, "run", "-n", "again", "--", sys.executable, "-c", "pass")
    record = yamlio.loads(_record_path(recorded, "again").read_text(), "again.yaml")
    lockfiles = record["environment"]["lockfiles"]
    assert "requirements-dev.txt" in lockfiles  # capture works...
    assert "requirements.txt" not in lockfiles  # ...but not through the symlink
    outside_digest = hashing.content_id(
        hashing.hash_bytes((outside / "requirements.txt").read_bytes())
    )
    assert outside_digest not in _everything(recorded, [result])


@pytest.mark.parametrize("shape", ["folder", "file", "state-folder"])
def test_a_runs_symlink_is_not_written_through(
    recorded: Path, tmp_path: Path, run: Runner, shape: str
) -> None:
    """Refused before the command runs, and nothing lands at the symlink's target."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "again.yaml"
    target.write_text("mine\n")
    before = _state(target)
    state = recorded / ".relstate"
    if shape == "folder":
        runs = state / "runs"
        for path in runs.iterdir():
            (elsewhere / path.name).write_bytes(path.read_bytes())
            path.unlink()
        runs.rmdir()
        runs.symlink_to(elsewhere)
    elif shape == "file":
        _record_path(recorded, "again").symlink_to(target)
    else:
        moved = elsewhere / "state"
        state.rename(moved)
        state.symlink_to(moved)
        (moved / "runs" / "again.yaml").symlink_to(target)
    command = "open('ran.txt', 'w').write('ran')"
    result = run(recorded, "run", "-n", "again", "--", sys.executable, "-c", command, expect=1)
    assert "symlink" in result.err
    assert not (recorded / "ran.txt").exists()
    assert _untouched(target, before)
    assert not [p for p in elsewhere.rglob(".relstate-tmp-*")]


def test_a_rerun_refuses_a_dependency_symlinked_out_of_the_tree(
    recorded: Path, outside: Path, run: Runner
) -> None:
    (recorded / "leak.json").symlink_to(outside / "creds.json")
    record = yamlio.loads(_record_path(recorded).read_text(), "train.yaml")
    fake = {"path": "leak.json", "hash": "blake3:" + "0" * 64, "size": 1}
    _edit(recorded, deps=[*record["deps"], fake])
    commit_all(recorded, "a dependency outside")
    result = run(recorded, "run", "train", expect=1)
    assert "leak.json" in result.err and "outside" in result.err
    assert not (recorded / "leak.json.relstate.yaml").exists()
    creds = (outside / "creds.json").read_bytes()
    assert not list((recorded / ".git" / "relstate" / "cache").rglob(hashing.hash_bytes(creds)[2:]))
    assert SECRET not in _everything(recorded, [result])


def test_diff_does_not_read_a_params_file_symlinked_out_of_the_tree(
    recorded: Path, outside: Path, run: Runner
) -> None:
    (recorded / "params.yaml").unlink()
    (recorded / "params.yaml").symlink_to(outside / "creds.yaml")
    results = [
        run(recorded, "diff", "HEAD", *extra, expect=None) for extra in ((), ("--json",), ("--md",))
    ]
    assert all(r.code in (1, 2) for r in results)
    assert SECRET not in _everything(recorded, results)


@pytest.mark.slow
def test_diff_does_not_read_a_metrics_file_symlinked_out_of_the_tree(
    recorded: Path, outside: Path, run: Runner
) -> None:
    (recorded / "metrics.json").unlink()
    (recorded / "metrics.json").symlink_to(outside / "creds.json")
    results = [run(recorded, "diff", "HEAD", *x, expect=None) for x in ((), ("--json",))]
    everything = _everything(recorded, results)
    assert SECRET not in everything and str(SECRET_NUMBER) not in everything


@pytest.mark.slow
def test_a_rerun_in_a_working_folder_symlinked_out_of_the_tree_does_not_run(
    recorded: Path, tmp_path: Path, run: Runner
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (recorded / "work").symlink_to(elsewhere)
    _edit(recorded, wdir="work", command=["sh", "-c", "echo ran > ran.txt"])
    commit_all(recorded, "a working folder outside")
    result = run(recorded, "run", "train", expect=1)
    assert "wdir" in result.err
    assert not (elsewhere / "ran.txt").exists()


@pytest.mark.slow
def test_reproduce_does_not_hash_an_output_symlinked_out_of_the_tree(
    recorded: Path, outside: Path, run: Runner
) -> None:
    """The report must not become a hash oracle for files elsewhere on this machine."""
    creds = outside / "creds.json"
    record = yamlio.loads(_record_path(recorded).read_text(), "train.yaml")
    digest = "blake3:" + hashing.hash_bytes(creds.read_bytes())
    _edit(
        recorded,
        command=["sh", "-c", f"ln -sf {creds} out.txt; echo '{{}}' > metrics.json"],
        outs=[{"path": "out.txt", "hash": digest, "size": creds.stat().st_size}, record["outs"][1]],
    )
    commit_all(recorded, "an output that is a symlink out")
    doc = json.loads(run(recorded, "reproduce", "train", "--json", expect=None).out)
    out = next(o for o in doc["outputs"] if o["path"] == "out.txt")
    assert out["actual"] is None and out["match"] is False


@pytest.mark.slow
def test_reproduce_workdir_may_not_be_a_symlink(
    recorded: Path, tmp_path: Path, run: Runner
) -> None:
    target = tmp_path / "keep-me"
    target.mkdir()
    (target / "precious.txt").write_text("mine")
    link = tmp_path / "wd"
    link.symlink_to(target)
    result = run(recorded, "reproduce", "train", "--workdir", str(link), expect=2)
    assert "is a symlink" in result.out
    assert (target / "precious.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_params_file_inside_relstate_is_not_shown(recorded: Path, run: Runner) -> None:
    """config.local.yaml holds credentials: a record naming it must not print them."""
    run(recorded, "remote", "add", "store", "s3://bucket/x", "-o", f"secret={SECRET}", "--local")
    assert SECRET in (recorded / ".relstate" / "config.local.yaml").read_text()
    _edit(recorded, params={".relstate/config.local.yaml": {"token": "x"}})
    results = [run(recorded, "diff", "HEAD", *x, expect=None) for x in ((), ("--json",))]
    assert all(SECRET not in r.out + r.err for r in results)


def test_repo_abspath_refuses_absolute_and_dotdot(recorded: Path) -> None:
    from gitrelstate.errors import UnsafePathError
    from gitrelstate.repo import Repo

    with Repo.open(recorded) as repo:
        assert repo.abspath("a/b") == recorded.resolve() / "a" / "b"
        for bad in ("/etc/passwd", "../x", "a/../../x"):
            with pytest.raises(UnsafePathError):
                repo.abspath(bad)
        assert os.path.samefile(repo.abspath("."), recorded)
