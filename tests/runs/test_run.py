"""Execution states end to end: a real scikit-learn pipeline, real git, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git
from tests.helpers.pipeline import Pipeline
from tests.helpers.trees import read_tree

# The training stage records two of the params and the seed variable.
PIPELINE = Pipeline(
    params={"train": {"C": 1.0, "max_iter": 200}},
    param_spec="params.json:train.C,train.max_iter",
    variables=("SEED",),
)


@pytest.fixture
def pipeline(repo: Path, run: Runner) -> Path:
    """The pipeline committed, its prepare stage recorded (not committed)."""
    PIPELINE.write(run, repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    PIPELINE.prepare(run, repo)
    return repo


def _record(repo: Path, name: str) -> dict[str, Any]:
    record: dict[str, Any] = yamlio.read(repo / ".relstate" / "runs" / f"{name}.yaml")
    return record


def test_record_binds_data_params_code_environment_and_outputs(
    pipeline: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEED", "7")
    PIPELINE.train(run, pipeline)
    rec = _record(pipeline, "train")
    assert list(rec)[:4] == ["relstate", "kind", "name", "command"]
    assert rec["command"][1:] == ["train.py"] and rec["exit_status"] == 0
    deps = {d["path"]: d for d in rec["deps"]}
    assert set(deps) == {"data/iris.csv", "train.py", "params.json"}
    assert deps["data/iris.csv"]["hash"].startswith("blake3:")
    assert {o["path"] for o in rec["outs"]} == {"model.json", "metrics.json"}
    assert rec["params"] == {"params.json": {"train.C": 1.0, "train.max_iter": 200}}
    assert rec["metrics"]["metrics.json"]["n"] == 150
    assert rec["code"]["commit"] == git(pipeline, "rev-parse", "HEAD").strip()
    env = rec["environment"]
    assert "scikit-learn" in env["packages"] and env["variables"]["SEED"] == "7"
    assert (pipeline / "model.json.relstate.yaml").exists()  # outputs are tracked data
    assert run(pipeline, "status", "--exit-code").code == 0
    # The prepared data is restorable: it was stored in the cache.
    os.unlink(pipeline / "data" / "iris.csv")
    run(pipeline, "checkout", "data/iris.csv")
    assert (pipeline / "data" / "iris.csv").stat().st_size > 1000


def test_each_layer_change_shows_in_the_next_record(
    pipeline: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEED", "1")
    PIPELINE.train(run, pipeline)
    first = _record(pipeline, "train")
    git(pipeline, "add", "-A")
    git(pipeline, "commit", "-qm", "run 1")
    (pipeline / "params.json").write_text(json.dumps({"train": {"C": 0.5, "max_iter": 200}}))
    monkeypatch.setenv("SEED", "2")
    with open(pipeline / "data" / "iris.csv", "a") as f:
        f.write("5.0,3.0,1.5,0.2,0\n")
    (pipeline / "train.py").write_text(PIPELINE.train_script + "\n# tweak\n")
    # data/iris.csv is prepare's output, edited by hand: running on it takes --force.
    PIPELINE.train(run, pipeline, "--force")
    second = _record(pipeline, "train")
    before = {d["path"]: d["hash"] for d in first["deps"]}
    after = {d["path"]: d["hash"] for d in second["deps"]}
    assert before["data/iris.csv"] != after["data/iris.csv"]
    assert before["train.py"] != after["train.py"]
    assert second["params"]["params.json"]["train.C"] == 0.5
    assert second["environment"]["variables"]["SEED"] == "2"
    assert second["code"]["dirty"] is True and second["code"]["diff"].startswith("blake3:")


def test_dependency_modified_during_the_run_is_caught(pipeline: Path, run: Runner) -> None:
    script = "open('data/iris.csv', 'a').write('1,1,1,1,1\\n')"
    result = run(
        pipeline,
        "run",
        "-n",
        "sneaky",
        "-d",
        "data/iris.csv",
        "-o",
        "out.txt",
        "--",
        sys.executable,
        "-c",
        script + "; open('out.txt','w').write('x')",
        expect=1,
    )
    assert "data/iris.csv" in result.err and "changed while it ran" in result.err
    assert not (pipeline / ".relstate" / "runs" / "sneaky.yaml").exists()


def test_failing_command_keeps_the_previous_record(pipeline: Path, run: Runner) -> None:
    PIPELINE.train(run, pipeline)
    before = (pipeline / ".relstate" / "runs" / "train.yaml").read_text()
    (pipeline / "train.py").write_text("raise SystemExit(3)\n")
    result = run(pipeline, "run", "train", expect=1)
    assert "exit status 3" in result.err and "previous record is kept" in result.err
    assert (pipeline / ".relstate" / "runs" / "train.yaml").read_text() == before


def test_secret_values_appear_nowhere(
    pipeline: Path, run: Runner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-VALUE-9f8e7d"
    monkeypatch.setenv("MY_API_TOKEN", secret)
    result = run(
        pipeline,
        "run",
        "-n",
        "leaky",
        "-e",
        "MY_API_TOKEN",
        "-o",
        "o.txt",
        "--",
        sys.executable,
        "-c",
        "open('o.txt','w').write('ok')",
    )
    assert secret not in result.out + result.err
    rec = _record(pipeline, "leaky")
    assert "MY_API_TOKEN" in rec["environment"]["variables"]
    git(pipeline, "add", "-A")
    git(pipeline, "commit", "-qm", "x")
    for root in (pipeline, pipeline / ".git"):
        for dirpath, _, files in os.walk(root):
            for name in files:
                data = (Path(dirpath) / name).read_bytes()
                assert secret.encode() not in data, f"secret found in {dirpath}/{name}"
    log = git(pipeline, "log", "-p", "--all")
    assert secret not in log


def test_a_venv_command_is_captured_as_that_venv(tmp_path: Path, repo: Path, run: Runner) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    dist = site / "only_in_venv-4.5.6.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: only-in-venv\nVersion: 4.5.6\n")
    run(
        repo,
        "run",
        "-n",
        "v",
        "-o",
        "o.txt",
        "--",
        str(venv / "bin" / "python"),
        "-c",
        "open('o.txt','w').write('x')",
    )
    packages = _record(repo, "v")["environment"]["packages"]
    assert "only-in-venv" in packages and "pytest" not in packages


def test_rerun_by_name_and_stale_upstream(
    pipeline: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    PIPELINE.train(run, pipeline)
    first = _record(pipeline, "train")
    with open(pipeline / "prepare.py", "a") as f:
        f.write("\n# changed\n")
    # Running on the stale output of 'prepare' is refused: repro brings both up to date.
    result = run(pipeline, "run", "train", expect=1)
    assert "reads from stale stage(s): 'prepare' (dependency prepare.py changed)" in result.err
    assert "git relstate repro train" in result.err
    assert _record(pipeline, "train") == first
    forced = run(pipeline, "run", "train", "--force")
    assert "running on their current outputs (--force)" in forced.err
    second = _record(pipeline, "train")
    assert second["command"] == first["command"] and second["params"] == first["params"]
    assert second["started"] >= first["started"]
    # prepare.py changed by a comment only: prepare runs, makes the same data, and train
    # (recorded on that data just now) stays up to date.
    done = run(pipeline, "repro", "train")
    assert "running 'prepare'" in done.out and "running 'train'" not in done.out


def test_trace_finds_the_producing_run_in_history(pipeline: Path, run: Runner) -> None:
    PIPELINE.train(run, pipeline)
    git(pipeline, "add", "-A")
    git(pipeline, "commit", "-qm", "trained")
    commit = git(pipeline, "rev-parse", "HEAD").strip()
    out = run(pipeline, "trace", "model.json").out
    assert "run 'train'" in out and commit[:12] in out
    doc = json.loads(run(pipeline, "trace", "model.json", "--json").out)
    [hit] = doc["producers"]
    assert hit["name"] == "train" and hit["commit"] == commit
    assert hit["conditions"]["params"]["params.json"]["train.C"] == 1.0
    # A hash works too, and unknown content says so with exit 1.
    assert run(pipeline, "trace", doc["hash"]).code == 0
    assert run(pipeline, "trace", "0" * 64, expect=1).code == 1


def test_python_api_writes_the_same_record(pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gitrelstate

    monkeypatch.chdir(pipeline)
    with gitrelstate.run(
        "api", deps=["data/iris.csv"], outs=["api.txt"], params=["params.json:train.C"]
    ) as r:
        assert r.params["params.json"] == {"train.C": 1.0}
        Path("api.txt").write_text("made inside the block")
    rec = _record(pipeline, "api")
    assert rec["outs"][0]["path"] == "api.txt" and rec["kind"] == "run"
    assert "pytest" in rec["environment"]["packages"]  # the running interpreter
    with pytest.raises(RuntimeError), gitrelstate.run("api", outs=["api.txt"]):
        raise RuntimeError("training crashed")
    assert _record(pipeline, "api") == rec  # the failed block left the record alone


def test_env_show_and_check(pipeline: Path, run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEED", "3")
    PIPELINE.train(run, pipeline)
    shown = json.loads(run(pipeline, "env", "show", "train", "--json").out)
    assert shown["variables"]["SEED"] == "3"
    assert run(pipeline, "env", "check", "train").code == 0
    monkeypatch.setenv("SEED", "4")
    result = run(pipeline, "env", "check", "train", expect=1)
    assert "SEED" in result.out
    assert run(pipeline, "env", "check", "no-such-run", expect=2).code == 2
    assert read_tree(pipeline)  # nothing odd happened to the work tree


def test_run_usage_errors(repo: Path, run: Runner) -> None:
    assert "no command given" in run(repo, "run", "-n", "x", expect=1).err
    assert "invalid run name" in run(repo, "run", "-n", "../x", "--", "true", expect=1).err
    assert "no run named" in run(repo, "run", "missing", expect=1).err
    assert "command not found" in run(repo, "run", "-n", "x", "--", "no-such-cmd-xyz", expect=1).err
