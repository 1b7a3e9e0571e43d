"""dvc.yaml read as DVC 3.67.1 reads it: interpolation edge cases, foreach, matrix, vars,
params, outputs and plots, checked against what DVC itself answered (recorded with
tests/dvcimport/data/dump_resolved.py.in and DVC's resolver; no DVC needed here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gitrelstate.dvcimport import convert, dvcyaml
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from tests.helpers.cli import git

from .conftest import DATA


def _answers(name: str) -> dict[str, tuple[bool, dict[str, Any]]]:
    """DVC's answer per case: (resolved, {stage name: resolved body})."""
    found: dict[str, tuple[bool, dict[str, Any]]] = {}
    case = ""
    for line in (DATA / f"{name}.out").read_text().splitlines():
        if line.startswith("## "):
            case, _, rest = line[3:].partition(": ")
            found[case] = (rest.startswith("OK"), {})
        elif line.startswith("    ") and case:
            body = line.strip()
            at = body.index(" {")
            found[case][1][body[:at]] = json.loads(body[at + 1 :])
    return found


def _cases(name: str) -> list[tuple[str, Any, bool, dict[str, Any]]]:
    docs = yamlio.loads((DATA / f"{name}.yaml").read_bytes(), name, text_keys=True)
    answers = _answers(name)
    return [(case, doc, *answers[case]) for case, doc in docs.items() if case in answers]


def _project(tmp_path: Path, files: dict[str, str | Path]) -> Repo:
    root = tmp_path / "p"
    root.mkdir()
    git(root, "init", "-q")
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content)
    return Repo.discover(root)


# DVC resolves 'a@b' as a plain stage but cannot address it; we import it as one.
UNADDRESSABLE = {"name_with_at"}


@pytest.mark.parametrize(
    ("case", "doc", "ok", "stages"),
    [
        c
        for c in (*_cases("interp_cases"), *_cases("interp_cases_zoo"))
        if c[0] not in UNADDRESSABLE
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_interpolation_as_dvc_resolves_it(
    tmp_path: Path, case: str, doc: Any, ok: bool, stages: dict[str, Any]
) -> None:
    zoo = DATA / "zoo"
    files: dict[str, str | Path] = {"dvc.yaml": yamlio.dumps(doc)}
    if case in _answers("interp_cases_zoo"):
        files.update({"params.yaml": zoo / "params.yaml", "cfg.yaml": zoo / "cfg.yaml",
                      "sub/params.yaml": zoo / "sub_params.yaml",
                      "m.json": json.dumps({"acc": 0.9, "loss": {"tr": 0.1}})})  # fmt: skip
    else:
        files["params.yaml"] = DATA / "interp_params.yaml"
    repo = _project(tmp_path, files)
    if not ok:
        with pytest.raises(RelstateError):
            dvcyaml.read(repo, "dvc.yaml")
        return
    got = {s.name: s for s in dvcyaml.read(repo, "dvc.yaml").stages}
    assert list(got) == list(stages)
    for name, body in stages.items():
        stage = got[name]
        assert stage.cmd == body["cmd"]
        if "wdir" in body:
            assert stage.wdir == body["wdir"]
        for key, kind in (("outs", "out"), ("deps", None)):
            if key not in body:
                continue
            written = (
                [d[1] for d in stage.deps] if kind is None else [o.written for o in stage.outs]
            )
            expected = [next(iter(o)) if isinstance(o, dict) else str(o) for o in body[key]]
            assert written == [str(e).lower() if isinstance(e, bool) else str(e) for e in expected]


@pytest.mark.parametrize("example", ["zoo", "project"])
def test_every_stage_as_dvc_reads_it(tmp_path: Path, example: str) -> None:
    """Names, commands, working folders, dependencies, params keys, outputs with their
    flags and plot properties: equal to DVC's own reading (dump_resolved.json)."""
    src = DATA / example
    files: dict[str, str | Path] = {p.name: p for p in src.iterdir() if p.is_file()}
    if "sub_params.yaml" in files:
        files["sub/params.yaml"] = files.pop("sub_params.yaml")
    repo = _project(tmp_path, files)
    ours = {s.addressing: s for s in dvcyaml.read(repo, "dvc.yaml").stages}
    oracle = json.loads((src / "dump_resolved.json").read_text())
    theirs = {s["addressing"]: s for s in oracle["stages"] if s["dvcfile"] == "dvc.yaml"}
    assert sorted(ours) == sorted(theirs)
    for name, dvc in theirs.items():
        stage = ours[name]
        assert stage.cmd == dvc["cmd"], name
        assert stage.wdir == dvc["wdir"], name
        assert sorted(d for d, _ in stage.deps) == sorted(d["path"] for d in dvc["deps"])
        assert sorted((p.path, tuple(p.keys or ())) for p in stage.params) == sorted(
            (p["path"], tuple(p["keys"])) for p in dvc["params"]
        )
        assert sorted(
            (o.path, o.cache, o.persist, o.kind == "metric", o.kind == "plot") for o in stage.outs
        ) == sorted((o["path"], o["cache"], o["persist"], o["metric"], bool(o["plot"]))
                    for o in dvc["outs"])  # fmt: skip
        for out in dvc["outs"]:
            if isinstance(out["plot"], dict):
                mine = next(o for o in stage.outs if o.path == out["path"])
                assert dict(mine.props) == out["plot"]
        assert (stage.frozen, stage.always_changed) == (dvc["frozen"], dvc["always_changed"])


def test_commands_names_and_plots_as_gitrelstate_stages() -> None:
    assert convert.argv_of("python3 src/prepare.py") == ("python3", "src/prepare.py")
    assert convert.argv_of("python3 train.py --lr 0.1 'a b'")[-1] == "a b"
    sh = convert.shell()
    assert convert.argv_of("date +%N > always.txt") == (sh, "-c", "date +%N > always.txt")
    listed = convert.argv_of(["echo one > a", "echo two >> a"])
    assert listed[:2] == (sh, "-c") and listed[2].startswith("set -e\n( echo one > a\n)")
    stages = [
        dvcyaml.Stage("stats@train", "stats@train", "dvc.yaml", ".", "x", (), (), ()),
        dvcyaml.Stage("sweep@0.1-5", "sweep@0.1-5", "dvc.yaml", ".", "x", (), (), ()),
        dvcyaml.Stage("train", "sub/dvc.yaml:train", "sub/dvc.yaml", "sub", "x", (), (), ()),
        dvcyaml.Stage("f@a b", "f@a b", "dvc.yaml", ".", "x", (), (), ()),
    ]
    assert convert.stage_names(stages, {"stats.train"}) == {
        "stats@train": "stats.train-2",
        "sweep@0.1-5": "sweep.0.1-5",
        "sub/dvc.yaml:train": "sub_train",
        "f@a b": "f.a_b",
    }
