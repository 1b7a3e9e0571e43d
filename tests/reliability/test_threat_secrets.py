"""Threat model, class 2: secrets never leave the machine.

Channels: the environment note the post-commit hook writes and pre-push sends to the git
remote, run records (a command line), the committed config (remote URLs and options),
``remote list`` and error messages, and -- the worst -- a pull request that changes only
the committed endpoint of a remote so that the victim's next push signs requests with
the victim's local credentials for the attacker's server.

Every secret is a unique marker; each test asserts the marker is absent from everything
that leaves (the bare git remote's objects, the printed output, the committed files) and
that the command still did its job. Real git, real hooks fired by ``git commit`` /
``git push``, a real HTTP server on 127.0.0.1 for the endpoint redirect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrelstate.guard import secrets
from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, commit_all, git, make_repo

TAG = uuid.uuid4().hex[:8]


def _mark(n: str) -> str:
    return f"SECRET{n}x{TAG}"


# Values that went out in clear in the audit (and more): name -> (value, marker).
LEAKY_VARIABLES = {
    "SLACK_WEBHOOK_URL": f"https://hooks.slack.com/services/T000/B000/{_mark('1')}",
    "JDBC_URL": f"jdbc:postgresql://db:5432/app?user=app&password={_mark('2')}",
    "REDIS_URL": f"redis://:{_mark('3')}/redis@cache:6379/0",
    "PIP_INDEX_URL": f"https://{_mark('4')}Tok@gitlab.example/api/v4/simple",
    "HTTPS_PROXY": f"http://bob:{_mark('5')}/proxy@proxy:3128",
    "MODEL_URL": f"https://b.s3.amazonaws.com/m.bin?X-Amz-Credential=x&X-Amz-Signature={_mark('6')}",
    "MY_API_KEY": _mark("7"),
}
PACKAGE_TOKEN = _mark("8")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def _cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitrelstate", *args],
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


def _objects(git_dir: Path) -> str:
    """Every object of a repository (all refs, notes, dangling), as text."""
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    )
    return out.stdout.decode("utf-8", "replace")


def _leaks(text: str) -> list[str]:
    return sorted({m for m in (_mark(str(i)) for i in range(10)) if m in text})


def _fake_package(site: Path) -> None:
    """A distribution installed from a URL with a token in its query (PEP 610)."""
    info = site / "fakepkg-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n\n")
    url = f"https://pkgs.example/fakepkg-1.0.whl?token={PACKAGE_TOKEN}"
    (info / "direct_url.json").write_text(json.dumps({"url": url, "archive_info": {}}))


@pytest.fixture
def hooked(tmp_path: Path) -> tuple[Path, Path]:
    """A repository with gitrelstate's hooks installed, a folder data remote and a bare
    git remote 'origin'; one commit pushed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", str(origin))
    assert _cli(repo, "init").returncode == 0
    assert _cli(repo, "remote", "add", "store", str(tmp_path / "store")).returncode == 0
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    assert _git(repo, "commit", "-qm", "base").returncode == 0
    return repo, origin


def _leaky_env(tmp_path: Path) -> dict[str, str]:
    """The secrets in the environment, and first on PATH a virtualenv (whose packages the
    note records) holding a package installed from a URL with a token."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    _fake_package(venv / "lib" / version / "site-packages")
    path = os.pathsep.join([str(venv / "bin"), os.environ["PATH"]])
    return _env(**LEAKY_VARIABLES, PATH=path, VIRTUAL_ENV=str(venv))


def _set_patterns(repo: Path, patterns: list[str], *, local: bool) -> None:
    path = repo / ".relstate" / ("config.local.yaml" if local else "config.yaml")
    doc = yamlio.loads(path.read_text(), path.name) if path.exists() else {}
    doc = doc or {"relstate": 1, "kind": "config"}
    doc["environment"] = {"variables": patterns}
    path.write_text(yamlio.dumps(doc))


# -- environment notes: capture, write, pre-push -------------------------------------


def test_committed_wildcards_are_ignored_and_notes_pushed_by_the_hook_hold_no_secret(
    hooked: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, origin = hooked
    env = _leaky_env(tmp_path)
    # The committed config asks for everything (a pull request could): ignored, said so.
    _set_patterns(repo, ["*", "?*", "*_URL", "[A-Z]*"], local=False)
    git(repo, "add", "-A")
    done = _git(repo, "commit", "-qm", "capture everything", env=env)
    assert done.returncode == 0, done.stderr
    assert "'*' in .relstate/config.yaml" in done.stderr and "ignored" in done.stderr
    note = git(repo, "notes", "--ref=relstate", "show", "HEAD")
    assert "SLACK_WEBHOOK_URL" not in note and "HOME" not in note
    # The user's own choice (config.local.yaml) is honoured: every variable captured,
    # every secret value redacted, a changed secret still visible (keyed digest).
    _set_patterns(repo, ["*"], local=True)
    (repo / "a.txt").write_text("b\n")
    git(repo, "add", "a.txt")
    assert _git(repo, "commit", "-qm", "mine", env=env).returncode == 0
    note = yamlio.loads(git(repo, "notes", "--ref=relstate", "show", "HEAD"), "note")
    variables = note["environment"]["variables"]
    for name in LEAKY_VARIABLES:
        assert variables[name]["redacted"].startswith("blake3-keyed:"), name
    assert (
        note["environment"]["packages"]["fakepkg"]["url"] == "https://pkgs.example/fakepkg-1.0.whl"
    )
    pushed = _git(repo, "push", "-q", "origin", "main", env=env)
    assert pushed.returncode == 0, pushed.stderr
    shown = _git(origin, "notes", "--ref=relstate", "show", "main").stdout
    assert "SLACK_WEBHOOK_URL" in shown  # the notes did go
    assert _leaks(_objects(origin)) == []
    assert _leaks(pushed.stdout + pushed.stderr + done.stdout + done.stderr) == []


def _plant_note(repo: Path, text: str, rev: str = "HEAD") -> None:
    """A note written in clear: by an older version, or fetched from someone else."""
    path = repo.parent / "planted-note.yaml"
    path.write_text(text)
    git(repo, "notes", "--ref=relstate", "add", "-f", "-F", str(path), rev)


def _clear_note(commit: str) -> str:
    return yamlio.dumps(
        {
            "relstate": 1,
            "kind": "environment",
            "commit": commit,
            "captured": "2026-01-01T00:00:00Z",
            "host": "old-version",
            "environment": {
                "variables": {k: v for k, v in LEAKY_VARIABLES.items()},
                "packages": {
                    "fakepkg": {"version": "1.0", "url": f"https://h/p?token={PACKAGE_TOKEN}"}
                },
            },
        }
    )


def test_pre_push_redacts_a_note_written_in_clear_before_it_leaves(
    hooked: tuple[Path, Path],
) -> None:
    repo, origin = hooked
    commit = git(repo, "rev-parse", "HEAD").strip()
    _plant_note(repo, _clear_note(commit))
    pushed = _git(repo, "push", "-q", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    assert "redacted what looked like secrets in the environment note" in pushed.stderr
    assert _leaks(pushed.stderr + pushed.stdout) == []
    assert _leaks(_objects(origin)) == []
    shown = _git(origin, "notes", "--ref=relstate", "show", "main").stdout
    assert "JDBC_URL" in shown and "blake3-keyed:" in shown  # redacted, not dropped


def test_pushing_the_notes_ref_by_hand_is_checked_too(hooked: tuple[Path, Path]) -> None:
    repo, origin = hooked
    assert _git(repo, "push", "-q", "origin", "main").returncode == 0
    commit = git(repo, "rev-parse", "HEAD").strip()
    _plant_note(repo, _clear_note(commit))
    refused = _git(repo, "push", "origin", "refs/notes/relstate")
    assert refused.returncode == 1
    assert (
        "held what looks like secrets" in refused.stderr
        and "push the notes again" in refused.stderr
    )
    assert _leaks(refused.stderr + refused.stdout + _objects(origin)) == []
    again = _git(repo, "push", "-q", "origin", "refs/notes/relstate")
    assert again.returncode == 0, again.stderr
    assert "JDBC_URL" in _git(origin, "notes", "--ref=relstate", "show", "main").stdout
    assert _leaks(_objects(origin)) == []


def test_a_secret_only_in_the_notes_history_is_not_pushed(hooked: tuple[Path, Path]) -> None:
    """A push sends the notes ref's history: a note later overwritten still travels."""
    repo, origin = hooked
    commit = git(repo, "rev-parse", "HEAD").strip()
    _plant_note(repo, _clear_note(commit))
    clean = yamlio.loads(_clear_note(commit), "note")
    clean["environment"] = {"variables": {"LANG": "C.UTF-8"}}
    _plant_note(repo, yamlio.dumps(clean))
    pushed = _git(repo, "push", "-q", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    assert "older version(s) of notes dropped" in pushed.stderr
    assert _leaks(_objects(origin)) == []
    assert "LANG" in _git(origin, "notes", "--ref=relstate", "show", "main").stdout


# -- command lines ---------------------------------------------------------------------

SECRET_ARGS = [
    ["--api-key", _mark("1")],
    [f"--password={_mark('2')}"],
    [f"postgres://u:{_mark('3')}@db/x"],
    [f"TOKEN={_mark('4')}"],
    ["-c", f"curl -H 'Authorization: Bearer {_mark('5')}' https://x"],
    [f"https://hooks.slack.com/services/T0/B0/{_mark('6')}"],
]


@pytest.mark.parametrize("args", SECRET_ARGS[:4], ids=["flag", "flag=", "url", "assignment"])
def test_run_refuses_a_secret_on_the_command_line(repo: Path, run: Runner, args: list[str]) -> None:
    result = run(repo, "run", "-n", "leak", "--", "sh", "-c", "true", "sh", *args, expect=1)
    assert "would be recorded in clear" in result.err and "environment variable" in result.err
    assert _leaks(result.out + result.err) == []
    assert not (repo / ".relstate" / "runs" / "leak.yaml").exists()


def test_ordinary_arguments_under_secret_looking_flags_still_run(repo: Path, run: Runner) -> None:
    args = ["--max-tokens", "512", "--key", "2", "--eos-token", "</s>", "--pad-token", "[PAD]"]
    args += ["--password-file", "/run/secrets/pw", "--sort-key", "timestamp_column"]
    args += ["https://git@github.com/o/r", "--api-key", "$API_KEY"]
    run(repo, "run", "-n", "ok", "--", "sh", "-c", "true", "sh", *args)
    assert (repo / ".relstate" / "runs" / "ok.yaml").exists()


def test_rerunning_a_committed_record_with_a_secret_is_refused(repo: Path, run: Runner) -> None:
    """A record written by an older version (or by hand, in a pull request): `run NAME`
    would record the secret again; every path to a stage passes the same check."""
    run(repo, "run", "-n", "train", "--", "sh", "-c", "true")
    path = repo / ".relstate" / "runs" / "train.yaml"
    doc = yamlio.loads(path.read_text(), "train.yaml")
    doc["command"] = ["sh", "-c", "true", "sh", "--token", _mark("9")]
    path.write_text(yamlio.dumps(doc))
    result = run(repo, "run", "train", expect=1)
    assert "would be recorded in clear" in result.err
    assert _leaks(result.out + result.err) == []


def test_pre_commit_flags_a_record_whose_command_holds_a_secret(hooked: tuple[Path, Path]) -> None:
    repo, _ = hooked
    assert _cli(repo, "run", "-n", "train", "--", "sh", "-c", "true").returncode == 0
    path = repo / ".relstate" / "runs" / "train.yaml"
    doc = yamlio.loads(path.read_text(), "train.yaml")
    doc["command"] = ["train", "--api-key", _mark("1"), f"--password={_mark('2')}"]
    path.write_text(yamlio.dumps(doc))
    git(repo, "add", "-A")
    blocked = _git(repo, "commit", "-qm", "record")
    assert blocked.returncode == 1
    assert "'command.2' holds what looks like" in blocked.stderr
    assert "'command.3' holds what looks like" in blocked.stderr
    assert _leaks(blocked.stderr + blocked.stdout) == []


# -- the committed config ----------------------------------------------------------------

COMMITTED_LEAKS = [
    ("url", f"https://example.com/store?access_token={_mark('1')}", []),
    ("header", "/tmp/x", ["-o", f"headers.X-Goog-Api-Client={_mark('2')}"]),
    ("proxy", "/tmp/x", ["-o", f"client_kwargs.proxies.https=http://u:{_mark('3')}/w@p"]),
    ("endpoint", "/tmp/x", ["-o", f"client_kwargs.endpoint_url=https://u:{_mark('4')}@h"]),
    ("token-user", f"https://{_mark('5')}Tok@host/x", []),
]


@pytest.mark.parametrize(
    ("url", "options"), [c[1:] for c in COMMITTED_LEAKS], ids=[c[0] for c in COMMITTED_LEAKS]
)
def test_committed_config_refuses_secret_values_and_list_masks_them(
    repo: Path, run: Runner, url: str, options: list[str]
) -> None:
    refused = run(repo, "remote", "add", "q", url, *options, expect=1)
    assert "--local" in refused.err and _leaks(refused.out + refused.err) == []
    assert _leaks((repo / ".relstate" / "config.yaml").read_text()) == []
    run(repo, "remote", "add", "q", url, *options, "--local")
    listed = run(repo, "remote", "list")
    assert "q" in listed.out and _leaks(listed.out + listed.err) == []


def test_pre_commit_blocks_secret_values_written_into_the_committed_config_by_hand(
    hooked: tuple[Path, Path],
) -> None:
    repo, _ = hooked
    config = repo / ".relstate" / "config.yaml"
    doc = yamlio.loads(config.read_text(), "config.yaml")
    doc["remotes"]["store"]["options"] = {"headers": {"X-Client": _mark("1")}}
    doc["remotes"]["q"] = {"url": f"https://h/x?sig={_mark('2')}Ab1"}
    config.write_text(yamlio.dumps(doc))
    git(repo, "add", "-A")
    blocked = _git(repo, "commit", "-qm", "cfg")
    assert blocked.returncode == 1, blocked.stderr
    assert "remotes.store.options.headers.X-Client" in blocked.stderr
    assert "remotes.q.url" in blocked.stderr
    assert _leaks(blocked.stderr + blocked.stdout) == []
    listed = _cli(repo, "remote", "list")
    assert _leaks(listed.stdout + listed.stderr) == []


# -- the endpoint redirect (N9) --------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """The attacker's server: records every request (line, headers, body), answers 403."""

    seen: list[str]

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(f"{self.command} {self.path}\n{self.headers}\n{body!r}")
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


KEY_ID = f"AKIAVICTIM{TAG.upper()[:6]}00"[:20]


def _victim(tmp_path: Path, run: Runner) -> Path:
    """The victim's clone: the team's S3 remote (committed endpoint), the victim's own
    credentials in config.local.yaml, some data to push."""
    repo = make_repo(tmp_path / "victim", run)
    opts = ["-o", "client_kwargs.endpoint_url=http://127.0.0.1:9"]
    run(repo, "remote", "add", "s3", "s3://team-bucket/data", "--default", *opts)
    run(repo, "remote", "add", "s3", "s3://team-bucket/data", "--local", "--force",
        "-o", f"key={KEY_ID}", "-o", "secret=victim-secret-value")  # fmt: skip
    (repo / "model.bin").write_bytes(b"weights" * 10)
    run(repo, "track", "model.bin")
    commit_all(repo, "team setup")
    return repo


def _attacker_change(repo: Path, **options: object) -> None:
    """The pull request: only the committed settings of the remote change."""
    config = repo / ".relstate" / "config.yaml"
    doc = yamlio.loads(config.read_text(), "config.yaml")
    for dotted, value in options.items():
        node = doc["remotes"]["s3"]
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    config.write_text(yamlio.dumps(doc))
    commit_all(repo, "ci: use the mirror")


def test_a_committed_endpoint_change_never_receives_local_credentials(
    tmp_path: Path, run: Runner, attacker: tuple[str, list[str]]
) -> None:
    url, seen = attacker
    repo = _victim(tmp_path, run)
    _attacker_change(repo, options__client_kwargs__endpoint_url=url)
    refused = _cli(repo, "push")
    assert refused.returncode == 1
    assert "changed since this machine's settings" in refused.stderr
    assert "pinned:" in refused.stderr  # the hint says how to accept a trusted change
    for command in (["status", "-r", "s3"], ["verify", "-r", "s3"], ["fetch"]):
        assert _cli(repo, *command).returncode != 0
    assert seen == []  # no request at all, so neither the key id nor any data
    listed = _cli(repo, "remote", "list")
    assert "not used" in listed.stdout and KEY_ID not in listed.stdout


def _ci_clone(
    tmp_path: Path, run: Runner, attacker_url: str, *, then_more_data: bool = False
) -> tuple[Path, dict[str, str]]:
    """The team's repository with a folder on the committed S3 remote, a pull request that
    changes the data AND points the remote's endpoint at the attacker, and CI's clone of
    it with CI's own cloud credentials in its environment (none in gitrelstate's files)."""
    team = make_repo(tmp_path / "team", run)
    opts = ["-o", "client_kwargs.endpoint_url=http://127.0.0.1:9"]
    run(team, "remote", "add", "s3", "s3://team-bucket/data", "--default", *opts)
    (team / "data").mkdir()
    (team / "data" / "a.csv").write_text("1\n")
    run(team, "track", "data")
    commit_all(team, "data v1")
    git(team, "checkout", "-qb", "pr")
    (team / "data" / "b.csv").write_text("2\n")
    run(team, "track", "data")
    commit_all(team, "more data")
    _attacker_change(team, options__client_kwargs__endpoint_url=attacker_url)
    if then_more_data:  # a later commit: both it and its parent name the new endpoint
        (team / "data" / "c.csv").write_text("3\n")
        run(team, "track", "data")
        commit_all(team, "even more data")
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "-b", "pr", str(team), str(ci))
    env = _env(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY="ci-secret-value")
    assert _cli(ci, "init", "--no-hooks", env=env).returncode == 0
    return ci, env


def test_ci_diff_of_a_pr_moving_the_endpoint_sends_nothing_there(
    tmp_path: Path, run: Runner, attacker: tuple[str, list[str]]
) -> None:
    url, seen = attacker
    ci, env = _ci_clone(tmp_path, run, url)
    done = _cli(ci, "diff", "origin/main", "HEAD", "--md", env=env)
    assert done.returncode == 0, done.stderr
    assert "committed settings differ between the compared states" in done.stderr
    assert "per-file changes not shown" in done.stdout  # the comment says what it lacks
    assert seen == []  # neither CI's key id nor a request reached the new endpoint


def test_ci_diff_control_same_settings_do_reach_the_remote(
    tmp_path: Path, run: Runner, attacker: tuple[str, list[str]]
) -> None:
    """The control: where both compared commits name the attacker's endpoint, diff asks
    it for the listings (so the test above can fail); nothing of the PR decided that."""
    url, seen = attacker
    ci, env = _ci_clone(tmp_path, run, url, then_more_data=True)
    _cli(ci, "diff", "HEAD~1", "HEAD", "--md", env=env)
    assert any(KEY_ID in request for request in seen)


def test_the_redirect_is_real_once_the_user_accepts_the_change(
    tmp_path: Path, run: Runner, attacker: tuple[str, list[str]]
) -> None:
    """The control: the same setup does reach the server (and sends the key id) once the
    pin is dropped, so the test above can fail."""
    url, seen = attacker
    repo = _victim(tmp_path, run)
    _attacker_change(repo, options__client_kwargs__endpoint_url=url)
    local = repo / ".relstate" / "config.local.yaml"
    doc = yamlio.loads(local.read_text(), "local")
    del doc["remotes"]["s3"]["pinned"]
    local.write_text(yamlio.dumps(doc))
    _cli(repo, "push", "-j", "1")
    assert any(KEY_ID in request for request in seen)
    # ...and it is pinned again: what the user accepted stays accepted.
    assert "pinned:" in local.read_text()


def test_the_users_own_change_is_pinned_again(tmp_path: Path, run: Runner) -> None:
    repo = _victim(tmp_path, run)
    before = (repo / ".relstate" / "config.local.yaml").read_text()
    run(repo, "remote", "add", "s3", "s3://team-bucket/data", "--force",
        "-o", "client_kwargs.endpoint_url=http://127.0.0.1:10")  # fmt: skip
    after = (repo / ".relstate" / "config.local.yaml").read_text()
    assert before != after and KEY_ID in after  # re-pinned, credentials kept
    from gitrelstate.repo import Repo
    from gitrelstate.state import config as config_model

    with Repo.open(repo) as opened:
        assert config_model.binding(opened.config.remotes["s3"]) == "ok"


# -- committed folder URLs outside the repository (class 3 N6) -------------------------


@pytest.mark.parametrize("url", ["../escaped", "~/escaped", "file://../escaped"])
def test_a_committed_relative_or_home_folder_remote_needs_this_machines_consent(
    tmp_path: Path, run: Runner, url: str
) -> None:
    author = make_repo(tmp_path / "author", run)
    run(author, "remote", "add", "origin", url)  # the author's own: pinned for the author
    (author / "f.bin").write_bytes(b"data")
    run(author, "track", "f.bin")
    commit_all(author, "remote and data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(author), str(clone))
    home = Path(os.environ["HOME"])
    outside = [tmp_path / "escaped", home / "escaped"]
    (clone / "g.bin").write_bytes(b"the clone's data")
    run(clone, "track", "g.bin")
    refused = run(clone, "push", "g.bin", expect=1)
    assert "a repository may not choose folders on this machine" in refused.err
    assert f"remote add origin '{url}' --local" in refused.err
    assert run(clone, "pull", expect=None).code != 0
    assert not any(p.exists() for p in outside)
    run(clone, "remote", "add", "origin", url, "--local")
    run(clone, "push", "g.bin")
    assert any(p.exists() for p in outside)


# -- the rules themselves --------------------------------------------------------------


def test_redact_is_the_one_rule_set_scan_finds_exactly_what_redact_changes() -> None:
    doc = {
        "environment": {"variables": dict(LEAKY_VARIABLES), "packages": {"pykey": "1.0"}},
        "command": ["train", "--api-key", _mark("9"), "--epochs", "3"],
        "params": {"p.yaml": {"db.password": "hunter2", "max_tokens": 512, "lr": "0.1"}},
        "notes": [f"see https://hooks.slack.com/services/T/B/{_mark('0')}"],
        # Found by the property test: masking '--api-key password' must not unmask the
        # query's 'password=' (and the masked webhook must not change on a second pass).
        "snippets": [
            f"jdbc:x://db/a?password={_mark('2')} --api-key password",
            f"--api-key https://hooks.slack.com/services/T/B/{_mark('1')}",
        ],
    }
    key = bytes(range(32))
    clean = secrets.redact(doc, key)
    assert _leaks(json.dumps(clean)) == [] and "hunter2" not in json.dumps(clean)
    assert secrets.redact(clean, key) == clean  # idempotent
    assert secrets.scan(clean) == []
    found = {f.key for f in secrets.scan(doc)}
    assert {f"environment.variables.{n}" for n in LEAKY_VARIABLES} <= found
    assert {"command.2", "params.p.yaml.db.password", "notes.0"} <= found
    assert clean["environment"]["packages"] == {"pykey": "1.0"}  # names are not keys
    assert clean["command"] == ["train", "--api-key", "***", "--epochs", "3"]
    # A changed secret shows as changed; the same one under another name does not match.
    again = secrets.redact({**doc, "environment": {"variables": {"MY_API_KEY": "other"}}}, key)
    variables = clean["environment"]["variables"]
    assert again["environment"]["variables"]["MY_API_KEY"] != variables["MY_API_KEY"]


# -- the full hostile suite (slow) -----------------------------------------------------

MORE_SECRETS = {
    "DISCORD_HOOK": f"https://discord.com/api/webhooks/123/{_mark('1')}",
    "TEAMS_HOOK": f"https://acme.webhook.office.com/webhookb2/{_mark('2')}",
    "TELEGRAM": f"https://api.telegram.org/bot123:{_mark('3')}/sendMessage",
    "SOME_SETTING": f"ghp_{_mark('4')}abcdefghijklmnopqrstuvwxyz0123",
    "AZURE_STORAGE": f"DefaultEndpointsProtocol=https;AccountKey={_mark('5')}==;",
    "CURL_FLAGS": f"-H 'Authorization: Bearer {_mark('6')}'",
    "DEPLOY_KEY_PEM": "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    f"{_mark('7')}\n-----END OPENSSH PRIVATE KEY-----",
    "MONGO": f"mongodb+srv://app:{_mark('8')}@cluster0.example.net/db?retryWrites=true",
    "GIT_URL": f"https://x-access-token:{_mark('9')}@github.com/o/r.git",
    "SIGNED": f"https://storage.googleapis.com/b/o?X-Goog-Signature={_mark('0')}abc123",
}


@pytest.mark.slow
def test_every_secret_shape_under_a_users_wildcard_stays_out_of_pushed_notes(
    hooked: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, origin = hooked
    env = _leaky_env(tmp_path)
    env.update(MORE_SECRETS)
    _set_patterns(repo, ["*"], local=True)
    (repo / "a.txt").write_text("c\n")
    git(repo, "add", "a.txt")
    done = _git(repo, "commit", "-qm", "everything", env=env)
    assert done.returncode == 0, done.stderr
    note = git(repo, "notes", "--ref=relstate", "show", "HEAD")
    assert _leaks(note) == []
    for name in MORE_SECRETS:
        assert name in note
    pushed = _git(repo, "push", "-q", "origin", "main", env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert _leaks(_objects(origin) + pushed.stderr + done.stderr) == []


@pytest.mark.slow
def test_notes_fetched_from_a_collaborator_are_checked_before_they_go_to_another_remote(
    hooked: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, origin = hooked
    assert _git(repo, "push", "-q", "origin", "main").returncode == 0
    # A collaborator (older version, or careless) pushes a note in clear, hooks bypassed.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    git(other, "fetch", "-q", "origin", "refs/notes/relstate:refs/notes/relstate")
    commit = git(other, "rev-parse", "HEAD").strip()
    _plant_note(other, _clear_note(commit))
    skip = _env(RELSTATE_SKIP_HOOKS="1")
    assert _git(other, "push", "-q", "origin", "refs/notes/relstate", env=skip).returncode == 0
    # The victim fetches (the notes come along) and pushes to a public fork.
    assert _cli(repo, "fetch").returncode == 0
    assert "JDBC_URL" in git(repo, "notes", "--ref=relstate", "show", "HEAD")
    fork = tmp_path / "fork.git"
    git(tmp_path, "init", "-q", "--bare", str(fork))
    git(repo, "remote", "add", "fork", str(fork))
    pushed = _git(repo, "push", "-q", "fork", "main")
    assert pushed.returncode == 0, pushed.stderr
    assert _leaks(_objects(fork)) == []
    assert "JDBC_URL" in _git(fork, "notes", "--ref=relstate", "show", "main").stdout
    # Back to origin, where the secret already is: the rewritten notes still merge and go.
    (repo / "a.txt").write_text("d\n")
    git(repo, "add", "a.txt")
    assert _git(repo, "commit", "-qm", "more").returncode == 0
    again = _git(repo, "push", "-q", "origin", "main")
    assert again.returncode == 0, again.stderr
    assert "could not push the environment notes" not in again.stderr
    head = git(repo, "rev-parse", "HEAD").strip()
    assert _git(origin, "notes", "--ref=relstate", "show", head).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    [
        {"url": "s3://attacker-bucket/data"},
        {"options__client_kwargs__proxies": {"https": "http://127.0.0.1:9"}},
        {"options__region_name": "attacker-1"},
        {"client": "fsspec"},
    ],
    ids=["url", "proxy", "region", "client"],
)
def test_any_change_of_the_committed_settings_unbinds_the_local_credentials(
    tmp_path: Path, run: Runner, change: dict[str, object]
) -> None:
    repo = _victim(tmp_path, run)
    _attacker_change(repo, **change)
    refused = _cli(repo, "push")
    assert refused.returncode == 1 and "changed since this machine's settings" in refused.stderr
    assert KEY_ID not in refused.stdout + refused.stderr


@pytest.mark.slow
def test_local_settings_from_before_pins_are_pinned_on_first_use(
    tmp_path: Path, run: Runner, attacker: tuple[str, list[str]]
) -> None:
    url, seen = attacker
    repo = _victim(tmp_path, run)
    local = repo / ".relstate" / "config.local.yaml"
    doc = yamlio.loads(local.read_text(), "local")
    del doc["remotes"]["s3"]["pinned"]  # as an older version wrote it
    local.write_text(yamlio.dumps(doc))
    run(repo, "status", "-r", "s3", expect=None)  # first use: pins what is committed now
    assert "pinned:" in local.read_text()
    _attacker_change(repo, options__client_kwargs__endpoint_url=url)
    assert _cli(repo, "push").returncode == 1
    assert seen == []


SLOW_ARGS = [
    ["--aws-secret-access-key", "wJalrXUtnFEMIK7MDENGbPxRfiCY"],
    ["-c", f"curl -H 'X-Api-Key: {_mark('1')}' https://api.example"],
    [f"https://discord.com/api/webhooks/1/{_mark('2')}"],
    [f"ghp_{_mark('3')}abcdefghijklmnopqrstuvwxyz0123"],
    ["--db", f"postgres://admin:{_mark('4')}@db/prod"],
    [f"https://h/model.bin?X-Amz-Signature={_mark('5')}0af"],
    ["-c", f"HF_TOKEN={_mark('6')} python train.py"],
    [f"--client-secret={_mark('7')}"],
    [f"https://{_mark('8')}Tok@gitlab.example/simple"],
]


@pytest.mark.slow
@pytest.mark.parametrize("args", SECRET_ARGS[4:] + SLOW_ARGS)
def test_run_refuses_more_secret_shapes(repo: Path, run: Runner, args: list[str]) -> None:
    result = run(repo, "run", "-n", "leak", "--", "sh", "-c", "true", "sh", *args, expect=1)
    assert _leaks(result.out + result.err) == [] and "wJalrXUtnFEMI" not in result.err
    assert not (repo / ".relstate" / "runs" / "leak.yaml").exists()


@pytest.mark.slow
def test_remote_errors_and_list_never_show_local_secret_values(repo: Path, run: Runner) -> None:
    url = f"http://127.0.0.1:9/x?access_token={_mark('1')}"
    run(repo, "remote", "add", "q", url, "--local", "-o", f"headers.X-Api={_mark('2')}",
        "-o", f"client_kwargs.proxies.https=http://u:{_mark('3')}@p")  # fmt: skip
    (repo / "f.bin").write_bytes(b"x")
    run(repo, "track", "f.bin")
    failed = run(repo, "push", "-r", "q", expect=1)
    listed = run(repo, "remote", "list")
    assert "q" in listed.out
    assert _leaks(failed.out + failed.err + listed.out + listed.err) == []


@pytest.mark.slow
def test_redaction_is_idempotent_and_leaves_nothing_scan_would_find() -> None:
    # Secret by what they are (a value secret only by its name, MY_API_KEY's, is not).
    shaped = [v for k, v in LEAKY_VARIABLES.items() if k != "MY_API_KEY"]
    fragments = [*shaped, *MORE_SECRETS.values(), "lr", "0.1", "--api-key",
                 "api_key", "password", "x", "${TOKEN}", "https://h/p", "C.UTF-8"]  # fmt: skip
    texts = st.lists(st.sampled_from(fragments), min_size=1, max_size=4).map(" ".join)
    names = st.sampled_from(["API_KEY", "variables", "command", "url", "p.password", "LANG"])
    docs = st.recursive(
        texts, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4)
    )

    @settings(max_examples=300, deadline=None)
    @given(docs)
    def check(doc: object) -> None:
        clean = secrets.redact(doc, bytes(32))
        assert secrets.redact(clean, bytes(32)) == clean
        assert secrets.scan(clean) == []
        assert _leaks(json.dumps(clean)) == []

    check()


HOSTILE_TEXTS = {
    "letters": "a" * 1_000_000 + " http://x",
    "schemes": "x://" * 250_000 + "@",
    "https": "https://" * 125_000 + "@",
    "user-info": "a://b:c@" * 120_000,
    "path-user-info": "a://h/u:p@" * 100_000,
    "key-blocks": "-----BEGIN RSA PRIVATE KEY-----" * 30_000,
    "yaml-keys": "key: " * 200_000,
    "flags": "--api-key x " * 80_000,
    "bearers": "bearer " * 150_000,
    "versions": "1." * 250_000 + "!",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_the_rules_stay_linear_on_hostile_text(name: str) -> None:
    """A note or record from someone else is scanned on push: 1 MB of any shape must not
    make a pattern rescan it per position (one such shape took 78 s for 200 KB)."""
    import time

    text = HOSTILE_TEXTS[name]
    started = time.monotonic()
    secrets.find(text)
    secrets.classify("password", text)
    secrets.redact({"a": [text, "--api-key", text]}, bytes(32))
    assert time.monotonic() - started < 30
