"""``export --format openlineage``: OpenLineage run events built with openlineage-python.

Each bound run is one OpenLineage run of the job named after its stage: a START event at
its start time (with its inputs) and a COMPLETE event at its finish (inputs and outputs).
Run ids are uuid5 of the run record's content id, so a run bound in two releases keeps its
id. Datasets carry their content id as version, their size and file count, and the custom
facet ``gitrelstate_contentDigest`` (schema in docs/schemas). One event per line;
``--emit URL`` posts them to an OpenLineage HTTP endpoint instead.
"""

from __future__ import annotations

import functools
import os
import uuid
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from gitrelstate.errors import RelstateError
from gitrelstate.exports import common
from gitrelstate.exports.source import ExportState
from gitrelstate.state.record import Artifact

PRODUCER: Final = f"https://github.com/gitrelstate/gitrelstate/tree/v{common.VERSION}"
# A literal (it was uuid5(URL, provenance.md "#openlineage")): run ids never change.
RUN_NAMESPACE: Final = uuid.UUID("671b58aa-bbed-5f2f-8449-cd67dbb17a48")
DIGEST_FACET: Final = "gitrelstate_contentDigest"
DIGEST_SCHEMA: Final = (
    "https://github.com/gitrelstate/gitrelstate/blob/main/docs/schemas/"
    "ContentDigestDatasetFacet-1-0-0.json#/$defs/ContentDigestDatasetFacet"
)
DEFAULT_ENDPOINT: Final = "api/v1/lineage"  # Marquez's, and the client's default
NAMESPACE_FALLBACK: Final = "gitrelstate"
EMIT_TIMEOUT: Final = 10.0


def run_id(record_id: str) -> str:
    """A stable UUID for one run record, from its content id (``source.record_id``)."""
    return str(uuid.uuid5(RUN_NAMESPACE, record_id))


@functools.cache
def _digest_facet_class() -> Any:
    """The custom dataset facet (there is no standard digest facet)."""
    import attr
    from openlineage.client.facet_v2 import DatasetFacet

    @attr.define
    class ContentDigestDatasetFacet(DatasetFacet):
        algorithm: str
        digest: str

        @staticmethod
        def _get_schema() -> str:
            return DIGEST_SCHEMA

    return ContentDigestDatasetFacet


def events(state: ExportState) -> list[Any]:
    """START and COMPLETE for every bound run, ordered by time."""
    with common.library("openlineage-python"):
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )
        from openlineage.client.facet_v2 import (
            dataset_version_dataset,
            execution_parameters_run,
            input_statistics_input_dataset,
            job_type_job,
            output_statistics_output_dataset,
            processing_engine_run,
            source_code_location_job,
        )
    digest_facet = _digest_facet_class()
    namespace = state.repository or NAMESPACE_FALLBACK

    def dataset_facets(art: Artifact) -> dict[str, Any]:
        algorithm, hex_ = art.hash.split(":", 1)
        return {
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=art.hash, producer=PRODUCER
            ),
            DIGEST_FACET: digest_facet(algorithm=algorithm, digest=hex_, producer=PRODUCER),
        }

    out: list[Any] = []
    for record in state.runs:
        job_facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="GITRELSTATE", jobType="STAGE",
                producer=PRODUCER,
            ),
        }  # fmt: skip
        commit = record.code.get("commit")
        if state.repository and commit:
            job_facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
                type="git",
                url=common.browse_url(state.repository, str(commit)),
                repoUrl=state.repository,
                version=str(commit),
                branch=record.code.get("branch") or None,
                path=record.wdir,
                producer=PRODUCER,
            )
        job = Job(namespace=namespace, name=record.name, facets=job_facets)
        run_facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=common.VERSION, name="gitrelstate", producer=PRODUCER
            )
        }
        parameters = [
            execution_parameters_run.ExecutionParameter(
                key=f"{file}:{key}", value=common.text_value(value)
            )
            for file, values in sorted(record.params.items())
            for key, value in sorted(values.items())
        ]
        if parameters:
            run_facets["executionParameters"] = (
                execution_parameters_run.ExecutionParametersRunFacet(
                    parameters=parameters, producer=PRODUCER
                )
            )
        run = Run(runId=run_id(state.run_ids[record.name]), facets=run_facets)
        inputs = [
            InputDataset(
                namespace=namespace,
                name=dep.path,
                facets=dataset_facets(dep),
                inputFacets={
                    "inputStatistics": (
                        input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                            size=dep.size, fileCount=dep.nfiles, producer=PRODUCER
                        )
                    )
                },
            )
            for dep in sorted(record.deps, key=lambda a: a.path)
        ]
        outputs = [
            OutputDataset(
                namespace=namespace,
                name=o.path,
                facets=dataset_facets(o),
                outputFacets={
                    "outputStatistics": (
                        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            size=o.size, fileCount=o.nfiles, producer=PRODUCER
                        )
                    )
                },
            )
            for o in sorted(record.outs, key=lambda a: a.path)
        ]
        out.append(
            RunEvent(
                eventType=RunState.START, eventTime=record.started or state.created,
                run=run, job=job, inputs=inputs, producer=PRODUCER,
            )
        )  # fmt: skip
        out.append(
            RunEvent(
                eventType=RunState.COMPLETE, eventTime=record.finished or state.created,
                run=run, job=job, inputs=inputs, outputs=outputs, producer=PRODUCER,
            )
        )  # fmt: skip
    # By time; at one recorded second, upstream stages first, each START before COMPLETE.
    stage = {record.name: i for i, record in enumerate(state.runs)}
    order = {"START": 0, "COMPLETE": 1}
    out.sort(key=lambda e: (e.eventTime, stage[e.job.name], order[e.eventType.value]))
    return out


def to_lines(found: list[Any]) -> str:
    """One JSON event per line (the library's serialiser: sorted keys, Nones dropped)."""
    from openlineage.client.serde import Serde

    return "".join(Serde.to_json(event) + "\n" for event in found)


def render(state: ExportState) -> str:
    return to_lines(events(state))


def emit(found: list[Any], url: str) -> int:
    """POST each event to ``url`` (a base such as ``http://host:5000``, which posts to
    ``/api/v1/lineage``, or a full endpoint URL); return how many were sent."""
    with common.library("openlineage-python"):
        import requests
        from openlineage.client.transport.http import (
            ApiKeyTokenProvider,
            HttpConfig,
            HttpTransport,
            TokenProvider,
        )
    parts = urlsplit(url)
    shown = common.redact_text(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RelstateError(
            f"--emit needs an http(s) URL, not '{shown}'",
            hint="for example --emit http://localhost:5000 (Marquez)",
        )
    # The client posts to urljoin(url, endpoint): split the user's URL so that a full
    # endpoint URL is not joined with the default endpoint a second time.
    base = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
    endpoint = parts.path.lstrip("/") or DEFAULT_ENDPOINT
    if parts.query:
        endpoint += f"?{parts.query}"
    api_key = os.environ.get("OPENLINEAGE_API_KEY")
    auth = ApiKeyTokenProvider({"apiKey": api_key}) if api_key else TokenProvider({})
    config = HttpConfig(
        url=base,
        endpoint=endpoint,
        timeout=EMIT_TIMEOUT,
        auth=auth,
        retry={
            "total": 2,
            "backoff_factor": 0.1,
            "status_forcelist": [500, 502, 503, 504],
            "allowed_methods": ["POST"],
        },
    )
    transport = HttpTransport(config)
    sent = 0
    try:
        for event in found:
            transport.emit(event)
            sent += 1
    except requests.RequestException as exc:
        raise RelstateError(
            f"could not post OpenLineage events to {shown} ({sent} of {len(found)} sent): "
            f"{_reason(exc)}",
            hint="check that the endpoint is up and accepts POSTs of OpenLineage events",
        ) from None
    finally:
        transport.close()
    return sent


def _reason(exc: Exception) -> str:
    """One line about a failed POST, without the URL's credentials."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.exceptions.RetryError):
        return "the server kept answering with an error (retried)"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {EMIT_TIMEOUT:g} s"
    return common.redact_text(type(exc).__name__)
