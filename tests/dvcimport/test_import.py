"""import-dvc on a real DVC project built and reproduced by DVC 3.67.1 inside the test:
import, then repro runs nothing; a change to one key re-runs what DVC re-runs; stale
stages are said; data only in DVC's cache comes from there; the hooks pass."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git

from .conftest import DVC


def _import(run: Runner, project: Path) -> str:
    run(project, "init")  # with hooks, as a user would
    return run(project, "import-dvc").out


def _dvc_ran(out: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", out))


def _ours_ran(out: str, project: Path) -> set[str]:
    """Stages gitrelstate ran, by their DVC names."""
    names = {}
    for path in (project / ".relstate" / "runs").glob("*.yaml"):
        doc = yamlio.read(path)
        names[doc["name"]] = doc.get("imported", {}).get("name", doc["name"])
    return {names[n] for n in re.findall(r"running '([^']+)'", out)}


def test_import_then_repro_runs_nothing(dvc_project: Path, run: Runner) -> None:
    dvc_files = {p: p.read_bytes() for p in dvc_project.rglob("*") if p.is_file()
                 and (p.name in ("dvc.yaml", "dvc.lock") or p.suffix == ".dvc")}  # fmt: skip
    out = _import(run, dvc_project)
    assert "imported data data/raw.csv (from data/raw.csv.dvc)" in out
    assert "imported stage 'stats.train' (DVC: stats@train): up to date" in out
    assert "imported 8 stage(s) (0 stale)" in out
    assert {p: p.read_bytes() for p in dvc_files} == dvc_files  # DVC's files untouched
    assert "Pipeline is up to date (8 stage(s))" in run(dvc_project, "repro").out
    assert run(dvc_project, "status", "--exit-code").code == 0
    # What the records say: params by key, whole files, plots with DVC's properties,
    # cache: false outputs kept in Git, metrics.
    train = yamlio.read(dvc_project / ".relstate" / "runs" / "train.yaml")
    assert train["plots"]["plots/train_loss.csv"] == {
        "x": "epoch", "y": "loss", "template": "linear", "title": "Training loss",
    }  # fmt: skip
    evaluate = yamlio.read(dvc_project / ".relstate" / "runs" / "evaluate.yaml")
    assert set(evaluate["git_outs"]) == {"metrics/eval.json", "plots/roc.json",
                                         "reports/summary.txt"}  # fmt: skip
    assert evaluate["param_keys"] == {"params.yaml": ["evaluate.threshold"]}
    assert evaluate["params"]["config/labels.yaml"] == {"negative": 0, "positive": 1}
    assert evaluate["metrics"]["metrics/eval.json"]["n_test"] == 100
    assert evaluate["plots"]["plots/roc.json"]["name"] == "roc_curve"  # top-level plot
    assert "metrics/eval.json" in git(dvc_project, "ls-files")  # still Git's
    # The commit through the hooks passes right away.
    git(dvc_project, "add", "-A")
    committed = subprocess.run(["git", "commit", "-qm", "import"], cwd=dvc_project,
                               capture_output=True, text=True)  # fmt: skip
    assert committed.returncode == 0, committed.stderr


def test_a_key_change_reruns_what_dvc_reruns(
    dvc_project: Path, run: Runner, dvc: DVC, tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(dvc_project, twin, symlinks=True)
    _import(run, dvc_project)
    for root in (dvc_project, twin):
        params = root / "params.yaml"
        params.write_text(params.read_text().replace("degree: 2", "degree: 1"))
    theirs = _dvc_ran(dvc(twin, "repro"))
    ours = _ours_ran(run(dvc_project, "repro").out, dvc_project)
    assert theirs == ours
    assert "featurize" in ours and "prepare" not in ours
    # And both agree that all is up to date again.
    assert dvc(twin, "status", "--json").strip() == "{}"
    assert run(dvc_project, "status", "--exit-code").code == 0


@pytest.mark.slow
def test_stale_stages_are_imported_stale(dvc_project: Path, run: Runner, dvc: DVC) -> None:
    params = dvc_project / "params.yaml"
    params.write_text(params.read_text().replace("threshold: 0.5", "threshold: 0.6"))
    (dvc_project / "src" / "stats.py").write_text(
        (dvc_project / "src" / "stats.py").read_text() + "\n# changed\n"
    )
    dvc_says = dvc(dvc_project, "status", "--json")
    out = _import(run, dvc_project)
    assert "imported stage 'evaluate': stale (params params.yaml: evaluate.threshold changed" in out
    assert "imported stage 'stats.train' (DVC: stats@train): stale (dependency src/stats.py" in out
    assert "imported 8 stage(s) (3 stale)" in out
    assert '"evaluate"' in dvc_says and '"stats@train"' in dvc_says
    ran = run(dvc_project, "repro").out
    assert re.findall(r"running '([^']+)'", ran) == ["evaluate", "stats.test", "stats.train"]


@pytest.mark.slow
def test_data_only_in_dvcs_cache_is_imported_from_there(dvc_project: Path, run: Runner) -> None:
    shutil.rmtree(dvc_project / "data" / "features")
    (dvc_project / "model" / "model.json").unlink()
    out = _import(run, dvc_project)
    assert "2 path(s) came from DVC's cache" in out and "(0 stale)" in out
    assert not (dvc_project / "data" / "features").exists()
    restored = run(dvc_project, "repro").out
    assert "restored 'featurize' from the run cache" in restored and "running" not in restored
    assert (dvc_project / "data" / "features" / "train.csv").exists()
    assert (dvc_project / "model" / "model.json").exists()
    assert run(dvc_project, "status", "--exit-code").code == 0


@pytest.mark.slow
def test_ignore_lines_that_hide_a_pointer_are_fixed(dvc_project: Path, run: Runner) -> None:
    with open(dvc_project / "data" / ".gitignore", "a") as f:
        f.write("/raw.csv*\n")
    out = _import(run, dvc_project)
    assert "un-ignored pointer data/raw.csv.relstate.yaml" in out
    listed = git(dvc_project, "status", "--porcelain", "--untracked-files=all")
    assert "data/raw.csv.relstate.yaml" in listed


@pytest.mark.slow
def test_dvcs_own_reading_of_the_project_is_ours(
    dvc_project: Path, dvc_exe: str, tmp_path: Path
) -> None:
    """DVC's resolver, run live on the project (dump_resolved.py.in in DVC's venv)."""
    import json

    from gitrelstate.dvcimport import dvcyaml
    from gitrelstate.repo import Repo

    from .conftest import DATA, dvc_env

    python = str(Path(dvc_exe).parent / "python")
    dumped = subprocess.run([python, str(DATA / "dump_resolved.py.in"), "."], cwd=dvc_project,
                            env=dvc_env(tmp_path / "h"), capture_output=True, text=True,
                            check=True, timeout=300)  # fmt: skip
    oracle = json.loads(dumped.stdout)
    ours = {s.addressing: s for s in dvcyaml.read(Repo.discover(dvc_project), "dvc.yaml").stages}
    theirs = {s["addressing"]: s for s in oracle["stages"] if s["dvcfile"] == "dvc.yaml"}
    assert sorted(ours) == sorted(theirs)
    for name, stage in theirs.items():
        assert ours[name].cmd == stage["cmd"]
        assert sorted(o.path for o in ours[name].outs) == sorted(o["path"] for o in stage["outs"])
