"""Threat model, class 1: nothing a repository or a remote carries is executed or imported.

A hostile clone carries a ``gitrelstate/`` package, a ``sitecustomize.py``, programs
named ``git`` / ``python3``, run records naming committed "interpreters", scripts whose
shebang names one, and records whose command is anything at all. Every attack leaves
a marker file when it runs; each test asserts the marker is absent while the command
still did its job (a defence that merely breaks the command would pass unnoticed
otherwise). Real git, real ``git log -p`` through the installed textconv driver, the
real CLI in a subprocess where PATH matters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, commit_all, git, make_repo

MARKER_NAME = "PWNED"


def _marker(tmp_path: Path) -> Path:
    return tmp_path / MARKER_NAME


def _planted_program(path: Path, marker: Path) -> None:
    """An executable that only leaves ``marker`` behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "$0 $*" >> "{marker}"\nexit 0\n')
    path.chmod(0o755)


def _planted_package(root: Path, marker: Path) -> None:
    """A ``gitrelstate`` package and a ``sitecustomize`` that leave ``marker`` when imported."""
    code = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    (root / "gitrelstate").mkdir(exist_ok=True)
    for name in ("__init__.py", "__main__.py", "cli.py"):
        (root / "gitrelstate" / name).write_text(code)
    (root / "sitecustomize.py").write_text(code)
    (root / "usercustomize.py").write_text(code)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def _cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI, started the way a user's shell would (console script semantics:
    this interpreter, the package by import, never from the cwd)."""
    return subprocess.run(
        [sys.executable, "-I", "-c", "from gitrelstate.cli import main; main()", *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _git(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=300
    )


def _record(repo: Path, run: Runner, name: str = "train") -> Path:
    """A run recorded for real (params, an output, metrics), committed."""
    (repo / "params.yaml").write_text("lr: 0.1\n")
    (repo / "train.py").write_text("print('training')\n")
    commit_all(repo, "code")  # a run binds a commit: reproduce needs one
    run(
        repo,
        "run",
        "-n",
        name,
        "-p",
        "params.yaml",
        "-o",
        "out.txt",
        "--",
        sys.executable,
        "-c",
        "open('out.txt', 'w').write('x')",
    )
    commit_all(repo, f"run {name}")
    return repo / ".relstate" / "runs" / f"{name}.yaml"


def _edit(record: Path, **changes: object) -> None:
    doc = yamlio.loads(record.read_text("utf-8"), record.name)
    doc.update(changes)
    record.write_text(yamlio.dumps(doc), "utf-8")


# -- the textconv driver: git diff / git log -p -----------------------------------------


@pytest.fixture
def initialised(tmp_path: Path, run: Runner) -> Path:
    """A repository set up with the driver registered (by this interpreter) and one
    committed pointer."""
    repo = tmp_path / "repo"
    make_repo(repo, run)
    (repo / "data.txt").write_text("one\n")
    run(repo, "track", "data.txt")
    commit_all(repo, "data")
    return repo


def _driver(repo: Path) -> str:
    return git(repo, "config", "--local", "diff.relstate.textconv").rstrip("\n")


def test_git_log_p_never_imports_a_committed_package(
    initialised: Path, tmp_path: Path, run: Runner
) -> None:
    repo = initialised
    marker = _marker(tmp_path)
    (repo / "data.txt").write_text("two\n")
    run(repo, "track", "data.txt")
    _planted_package(repo, marker)
    commit_all(repo, "evil package and a change")
    # PYTHONPATH=. is what a developer's shell may well have: still nothing from the tree.
    env = _env(PYTHONPATH=".", PATH=os.pathsep.join(["", os.environ["PATH"]]))
    shown = _git(repo, "log", "-p", "-1", "--", "data.txt.relstate.yaml", env=env)
    assert shown.returncode == 0 and not shown.stderr, shown.stderr
    assert "+hash: blake3:" in shown.stdout
    # The driver itself, on the whole file: its header says it ran.
    whole = _git(repo, "cat-file", "--textconv", "HEAD:data.txt.relstate.yaml", env=env)
    assert whole.stdout.startswith("# gitrelstate data (normalised by git relstate textconv)")
    pointer = repo / "data.txt.relstate.yaml"
    pointer.write_text(pointer.read_text().replace("size: 4", "size: 5"))
    diffed = _git(repo, "diff", env=env)
    assert diffed.returncode == 0 and not diffed.stderr, diffed.stderr
    assert "-size: 4" in diffed.stdout and "+size: 5" in diffed.stdout
    assert not marker.exists(), marker.read_text()


def test_the_driver_is_an_absolute_interpreter_with_an_isolated_import_path(
    initialised: Path,
) -> None:
    driver = _driver(initialised)
    assert driver.startswith(os.path.abspath(sys.executable) + " ")
    assert " -m " not in driver and "git-relstate" not in driver
    # Works from a shell where neither the venv nor git-relstate is on PATH.
    git_dir = os.path.dirname(shutil.which("git") or "/usr/bin/git")
    (initialised / "data.txt.relstate.yaml").write_text(
        (initialised / "data.txt.relstate.yaml").read_text().replace("size: 4", "size: 9")
    )
    plain = _git(initialised, "diff", env=_env(PATH=f"{git_dir}:/bin"))
    assert plain.returncode == 0, plain.stderr
    assert "-size: 4" in plain.stdout and "+size: 9" in plain.stdout
    assert "not found" not in plain.stderr


@pytest.mark.parametrize(
    "old",
    [
        "git-relstate textconv",
        f"{sys.executable} -m gitrelstate textconv",
    ],
)
@pytest.mark.parametrize("command", [("init", "--no-hooks"), ("install",)])
def test_init_and_install_rewrite_an_older_driver(
    initialised: Path, run: Runner, old: str, command: tuple[str, ...]
) -> None:
    git(initialised, "config", "--local", "diff.relstate.textconv", old)
    run(initialised, *command)
    driver = _driver(initialised)
    assert driver != old and driver.startswith(os.path.abspath(sys.executable) + " ")


# -- read-only commands and the interpreter a record names ------------------------------


def _hostile_interpreters(repo: Path, marker: Path) -> dict[str, list[str]]:
    """Commands a record can hold whose interpreter is planted in the work tree."""
    _planted_program(repo / "tools" / "python3", marker)
    _planted_program(repo / "tools" / "python3.9", marker)
    (repo / "relative-shebang.sh").write_text("#!tools/python3.9\n")
    (repo / "pip-long-form.sh").write_text(
        "#!/bin/sh\n'''exec' tools/python3 \"$0\" \"$@\"\n' '''\n"
    )
    (repo / "absolute-shebang.sh").write_text(f"#!{repo / 'tools' / 'python3'}\n")
    for script in ("relative-shebang.sh", "pip-long-form.sh", "absolute-shebang.sh"):
        (repo / script).chmod(0o755)
    return {
        "relative": ["tools/python3", "train.py"],
        "absolute": [str(repo / "tools" / "python3"), "train.py"],
        "relative-shebang": ["./relative-shebang.sh"],
        "pip-long-form": ["./pip-long-form.sh"],
        "absolute-shebang": ["./absolute-shebang.sh"],
    }


READ_ONLY = {
    "diff": ("diff", "HEAD"),
    "diff-md": ("diff", "HEAD", "--md"),
    "diff-json": ("diff", "HEAD", "--json"),
    "env-check": ("env", "check", "train"),
    "env-check-latest": ("env", "check"),
    "reproduce-strict": ("reproduce", "train", "--strict-env"),
}


def _read_only_case(
    tmp_path: Path, run: Runner, command: str, variant: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    repo = make_repo(tmp_path / "repo", run)
    marker = _marker(tmp_path)
    # Planted before the run, so the reproduce worktree (at the run's commit) has them too.
    commands = _hostile_interpreters(repo, marker)
    commit_all(repo, "tools")
    record = _record(repo, run)
    _edit(record, command=commands[variant])
    commit_all(repo, "a record naming a committed interpreter")
    result = _cli(repo, *READ_ONLY[command])
    return result, marker


@pytest.mark.parametrize(
    ("command", "variant"),
    [("diff", "relative"), ("env-check", "relative-shebang"), ("reproduce-strict", "absolute")],
)
def test_read_only_commands_never_run_an_interpreter_the_record_names(
    tmp_path: Path, run: Runner, command: str, variant: str
) -> None:
    result, marker = _read_only_case(tmp_path, run, command, variant)
    assert not marker.exists(), f"{command} ran {marker.read_text()}"
    assert result.returncode in (0, 1), result.stderr  # compared: not "trouble"
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(READ_ONLY))
@pytest.mark.parametrize(
    "variant", ["relative", "absolute", "relative-shebang", "pip-long-form", "absolute-shebang"]
)
def test_read_only_commands_never_run_an_interpreter_the_record_names_full(
    tmp_path: Path, run: Runner, command: str, variant: str
) -> None:
    result, marker = _read_only_case(tmp_path, run, command, variant)
    assert not marker.exists(), f"{command} ran {marker.read_text()}"
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr


def test_the_live_side_uses_the_interpreter_on_path_instead(tmp_path: Path, run: Runner) -> None:
    """The defence keeps the comparison meaningful: the live packages are those of the
    python3 on PATH, so the diff's environment layer is computed, not skipped."""
    result, marker = _read_only_case(tmp_path, run, "diff-json", "relative")
    assert not marker.exists()
    doc = json.loads(result.stdout)
    assert "environment" in doc["layers"]


# -- PATH lookups -------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("status",), ("diff", "HEAD"), ("env", "check")])
def test_empty_and_relative_path_entries_never_reach_the_work_tree(
    tmp_path: Path, run: Runner, args: tuple[str, ...]
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    _record(repo, run)
    marker = _marker(tmp_path)
    for name in ("git", "python3", "python", "nvidia-smi", "sysctl", "git-relstate"):
        _planted_program(repo / name, marker)
        _planted_program(repo / "bin" / name, marker)
    commit_all(repo, "programs at the root")
    path = os.pathsep.join(["", ".", "bin", os.environ["PATH"]])
    result = _cli(repo, *args, env=_env(PATH=path))
    assert result.returncode in (0, 1), result.stderr
    assert not marker.exists(), marker.read_text()


@pytest.mark.slow
def test_recorded_command_names_are_looked_up_in_absolute_path_entries_only(
    tmp_path: Path, run: Runner
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    record = _record(repo, run)
    marker = _marker(tmp_path)
    _planted_program(repo / "trainer", marker)
    _edit(record, command=["trainer"])
    commit_all(repo, "a bare command name")
    result = _cli(repo, "run", "train", env=_env(PATH=os.pathsep.join(["", os.environ["PATH"]])))
    assert result.returncode == 1 and "command not found: trainer" in result.stderr
    assert not marker.exists()


# -- provenance: reproduce and run NAME say whose command runs --------------------------


def _foreign(tmp_path: Path, run: Runner, host: str = "attacker-box") -> Path:
    """A record by another author, from another host, whose command says it ran."""
    repo = make_repo(tmp_path / "repo", run)
    record = _record(repo, run)
    _edit(record, host=host, command=["sh", "-c", "echo COMMAND-RAN >&2; echo x > out.txt"])
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=Mallory",
        "-c",
        "user.email=mallory@evil.example",
        "commit",
        "-qm",
        "a helpful change",
    )
    return repo


def test_reproduce_says_who_recorded_the_command_before_running_it(
    tmp_path: Path, run: Runner
) -> None:
    repo = _foreign(tmp_path, run)
    result = _cli(repo, "reproduce", "train", "--json")
    err = result.stderr
    assert "recorded by Mallory <mallory@evil.example> on host attacker-box" in err
    assert err.index("recorded by Mallory") < err.index("COMMAND-RAN")
    doc = json.loads(result.stdout)
    [seen] = doc["provenance"]
    assert seen["foreign"] is True and seen["host"] == "attacker-box"
    assert seen["author"] == "Mallory <mallory@evil.example>"
    assert any("recorded by Mallory" in w for w in doc["warnings"])


def test_run_name_says_who_recorded_the_command_before_running_it(
    tmp_path: Path, run: Runner
) -> None:
    repo = _foreign(tmp_path, run)
    result = _cli(repo, "-q", "run", "train")  # -q does not hide it
    err = result.stderr
    assert "recorded by Mallory" in err and "about to run its command: sh -c" in err
    assert err.index("recorded by Mallory") < err.index("COMMAND-RAN")


def test_ones_own_record_runs_without_a_notice(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "repo", run)
    _record(repo, run)
    result = _cli(repo, "reproduce", "train", "--json")
    assert result.stdout, result.stderr
    doc = json.loads(result.stdout)
    assert [p["foreign"] for p in doc["provenance"]] == [False]
    assert "recorded by" not in result.stderr and "recorded on" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("host", ["attacker-box", ""])
def test_another_host_alone_is_reason_enough(tmp_path: Path, run: Runner, host: str) -> None:
    """Same author (the attacker copied the victim's name and email), another host or
    none at all: still said."""
    repo = make_repo(tmp_path / "repo", run)
    record = _record(repo, run)
    _edit(record, host=host, command=["sh", "-c", "echo COMMAND-RAN >&2; echo x > out.txt"])
    commit_all(repo, "same author")
    err = _cli(repo, "run", "train").stderr
    where = f"on host {host}" if host else "on an unknown host"
    assert f"was recorded {where}" in err
    assert err.index(where) < err.index("COMMAND-RAN")
