"""export --format openlineage: START and COMPLETE per stage, built and read back with
openlineage-python's classes; --emit against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.serde import Serde

from tests.exports.conftest import Project
from tests.helpers import CHECKOUT
from tests.helpers.cli import Runner

SCHEMA = CHECKOUT / "docs" / "schemas" / "ContentDigestDatasetFacet-1-0-0.json"


def _lines(run: Runner, repo: Path, ref: str) -> tuple[str, list[dict[str, Any]]]:
    text = run(repo, "export", ref, "--format", "openlineage").out
    return text, [json.loads(line) for line in text.splitlines()]


def _rebuilt(event: dict[str, Any]) -> RunEvent:
    """The event as openlineage-python's classes (their validators run: UUID run id,
    ISO time, URI producer)."""
    return RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=event["run"]["facets"]),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"],
                facets=event["job"]["facets"]),
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"], facets=d["facets"],
                             inputFacets=d["inputFacets"]) for d in event["inputs"]],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"], facets=d["facets"],
                               outputFacets=d["outputFacets"]) for d in event["outputs"]],
        producer=event["producer"],
    )  # fmt: skip


def test_events_round_trip_through_the_library(run: Runner, project: Project) -> None:
    text, events = _lines(run, project.repo, "v2")
    assert "non-serializable" not in text
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("prepare", "START"),
        ("prepare", "COMPLETE"),
        ("train", "START"),
        ("train", "COMPLETE"),
    ]
    for line, event in zip(text.splitlines(), events, strict=True):
        assert Serde.to_json(_rebuilt(event)) == line


def test_runs_datasets_and_facets(run: Runner, project: Project) -> None:
    _, events = _lines(run, project.repo, "v2")
    release = json.loads(run(project.repo, "show", "v2", "--json").out)
    records = {r["name"]: r for r in release["runs"]}
    start, complete = events[2], events[3]
    assert start["run"]["runId"] == complete["run"]["runId"] != events[0]["run"]["runId"]
    uuid.UUID(start["run"]["runId"])
    assert start["eventTime"] == records["train"]["started"]
    assert complete["eventTime"] == records["train"]["finished"]
    assert start["job"]["namespace"] == "https://github.com/acme/churn.git"
    location = start["job"]["facets"]["sourceCodeLocation"]
    commit = records["train"]["code"]["commit"]
    assert location["url"] == f"https://github.com/acme/churn/tree/{commit}"
    assert location["version"] == commit and location["repoUrl"] == start["job"]["namespace"]
    parameters = {
        p["key"]: p["value"] for p in start["run"]["facets"]["executionParameters"]["parameters"]
    }
    assert parameters["params.json:train.C"] == "0.5"
    assert parameters["params.json:train.hub"] == "https://***@hub.example.com/models"
    outputs = {d["name"]: d for d in complete["outputs"]}
    assert sorted(outputs) == ["metrics.json", "model.json"] and start["outputs"] == []
    for out in records["train"]["outs"]:
        facets = outputs[out["path"]]["facets"]
        assert facets["version"]["datasetVersion"] == out["hash"]
        assert facets["gitrelstate_contentDigest"]["digest"] == out["hash"].split(":")[1]
        stats = outputs[out["path"]]["outputFacets"]["outputStatistics"]
        assert stats["size"] == out["size"]
    raw = next(d for d in events[0]["inputs"] if d["name"] == "data/raw")
    assert raw["inputFacets"]["inputStatistics"]["fileCount"] == 3
    # No variable is sent, not even a redacted one.
    assert "API_TOKEN" not in json.dumps(events) and "blake3-keyed" not in json.dumps(events)


def test_custom_facet_matches_its_published_schema(run: Runner, project: Project) -> None:
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    # The facet's own part (the first allOf branch is OpenLineage's DatasetFacet, online).
    own = Draft202012Validator(schema["$defs"]["ContentDigestDatasetFacet"]["allOf"][1])
    _, events = _lines(run, project.repo, "v1")
    facets = [
        d["facets"]["gitrelstate_contentDigest"]
        for e in events
        for d in (*e["inputs"], *e["outputs"])
    ]
    assert facets
    for facet in facets:
        assert list(own.iter_errors(facet)) == []
        assert facet["_schemaURL"].startswith(
            "https://github.com/gitrelstate/gitrelstate/blob/main/docs/schemas/"
            "ContentDigestDatasetFacet-1-0-0.json#/$defs/ContentDigestDatasetFacet"
        )
    assert list(own.iter_errors({"algorithm": "blake3", "digest": "XYZ"}))


def test_a_run_keeps_its_run_id_in_every_export(run: Runner, project: Project) -> None:
    _, release = _lines(run, project.repo, "v2")
    _, alone = _lines(run, project.repo, "run:prepare")
    assert [e["run"]["runId"] for e in alone] == [e["run"]["runId"] for e in release[:2]]
    _, v1 = _lines(run, project.repo, "v1")
    assert v1[0]["run"]["runId"] != release[0]["run"]["runId"]  # prepare ran again for v2


# -- --emit -------------------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    status: ClassVar[int] = 201
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, type[_Sink]]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("OPENLINEAGE_API_KEY", raising=False)
    _Sink.status = 201
    _Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Sink
    finally:
        server.shutdown()
        server.server_close()


def test_emit_posts_every_event(
    run: Runner, project: Project, sink: tuple[str, type[_Sink]], tmp_path: Path
) -> None:
    url, handler = sink
    text, _ = _lines(run, project.repo, "v2")
    out = tmp_path / "events.jsonl"
    result = run(project.repo, "export", "v2", "--format", "openlineage", "--emit", url,
                 "-o", str(out))  # fmt: skip
    assert f"posted 4 OpenLineage events to {url}" in result.out
    assert [p for p, _, _ in handler.received] == ["/api/v1/lineage"] * 4
    assert all(h["Content-Type"] == "application/json" for _, h, _ in handler.received)
    assert all("Authorization" not in h for _, h, _ in handler.received)
    assert [b.decode() for _, _, b in handler.received] == text.splitlines()
    assert out.read_text() == text
    # A full endpoint URL is used as it is; an API key becomes a bearer token.
    handler.received.clear()
    run.monkeypatch.setenv("OPENLINEAGE_API_KEY", "key-123")
    run(project.repo, "export", "train", "--format", "openlineage", "--emit", f"{url}/ol/v1/events")
    assert [p for p, _, _ in handler.received] == ["/ol/v1/events"] * 2
    assert handler.received[0][1]["Authorization"] == "Bearer key-123"


def test_emit_errors(run: Runner, project: Project, sink: tuple[str, type[_Sink]]) -> None:
    url, handler = sink
    handler.status = 500
    err = run(project.repo, "export", "v1", "--format", "openlineage", "--emit", url, expect=1).err
    assert f"error: could not post OpenLineage events to {url} (0 of 4 sent)" in err
    assert "hint:" in err and "Traceback" not in err
    assert len(handler.received) == 3  # one try and two retries on a 5xx
    handler.status = 400
    err = run(project.repo, "export", "v1", "--format", "openlineage", "--emit", url, expect=1).err
    assert "HTTP 400" in err
    # Nobody listening; credentials in the URL are not printed.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = f"http://user:SECRETpw@127.0.0.1:{port}/lineage"
    err = run(project.repo, "export", "v1", "--format", "openlineage", "--emit", dead, expect=1).err
    assert "connection failed" in err and "SECRETpw" not in err
    ftp = run(
        project.repo, "export", "v1", "--format", "openlineage", "--emit", "ftp://x", expect=1
    )
    assert "needs an http(s) URL" in ftp.err
