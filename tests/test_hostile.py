"""Hostile or unusual input: pointers, names and configs that must be refused safely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Runner, cache_objects, git, write_tree

from gitrelstate.errors import StateFileError
from gitrelstate.state import config as config_model
from gitrelstate.state.model import check_hash

HEX = "0" * 64


def _pointer(path: str, exec_: bool = False) -> str:
    return f"relstate: 1\nkind: data\npath: {path}\nhash: blake3:{HEX}\nsize: 1\n" + (
        "exec: true\n" if exec_ else ""
    )


def test_pointer_cannot_write_into_git_through_a_symlink(repo: Path, run: Runner) -> None:
    # The attack: a committed symlink to .git plus a pointer whose data lies behind it.
    os.symlink(".git", repo / "x")
    (repo / "x.relstate.yaml").write_text(_pointer("x"))
    result = run(repo, "checkout", "--force", expect=1)
    assert "resolves into .git" in result.err
    (repo / "x.relstate.yaml").unlink()
    (repo / "a.relstate.yaml").write_text(_pointer("x/hooks/post-checkout", exec_=True))
    result = run(repo, "checkout", "--force", expect=1)
    assert "beside the pointer" in result.err
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()


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
    assert not (repo / "data.relstate.yaml").exists()
    (repo / name).write_text("x")
    run(repo, "track", name, expect=1)
    assert not list(repo.glob("*.relstate.yaml"))


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
