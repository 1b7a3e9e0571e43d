"""``export --format slsa``: an in-toto Statement v1 whose predicate is SLSA Provenance v1.

The statement is a plain dict (protobuf's Struct would turn every integer into a float),
checked with in-toto-attestation before it is printed: the library parses it into its
protobuf classes (unknown or misspelt keys and wrong types fail) and validates the
statement and every resource descriptor. Unsigned: signing it is the user's tooling's job
(docs/provenance.md).
"""

from __future__ import annotations

from typing import Any, Final

from gitrelstate import hashing
from gitrelstate.errors import RelstateError
from gitrelstate.exports import common
from gitrelstate.exports.digests import Digests
from gitrelstate.exports.source import ExportState
from gitrelstate.state.record import Artifact

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v1"
BUILD_TYPE: Final = f"{common.PROVENANCE_DOCS}#buildtype-release-v1"
BUILDER_ID: Final = f"{common.PROVENANCE_DOCS}#builder-local-v1"
ENVIRONMENT_KEYS: Final = ("interpreter", "platform", "hardware", "lockfiles")


def render(state: ExportState, digests: Digests) -> str:
    """The statement as deterministic JSON, checked with in-toto-attestation."""
    doc = statement(state, digests)
    validate(doc)
    return common.dumps(doc)


def statement(state: ExportState, digests: Digests) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects(state, digests),
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": _external(state),
                "internalParameters": _internal(state),
                "resolvedDependencies": _dependencies(state),
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"gitrelstate": common.VERSION}},
                "metadata": {
                    "invocationId": state.state_id,
                    "startedOn": state.started(),
                    "finishedOn": state.finished(),
                },
            },
        },
    }


def _digest(art: Artifact, digests: Digests) -> dict[str, str]:
    algo, hex_ = digests.of(art)
    return {algo: hex_, "blake3": hashing.hex_of(art.hash)}


def subjects(state: ExportState, digests: Digests) -> list[dict[str, Any]]:
    """What the statement is about: the model first, then every run output by path; a
    release with neither is about its data state."""
    chosen: list[Artifact] = []
    model = state.model_artifact
    if model is not None:
        chosen.append(model)
    chosen += [o for o in state.outputs() if model is None or o.path != model.path]
    if not chosen:
        chosen = list(state.data)
    if not chosen:
        raise RelstateError(
            f"{state.label} binds no model, run output or data: there is nothing to attest",
            hint="make a release of a recorded run (git relstate release NAME --model PATH)",
        )
    return [{"name": art.path, "digest": _digest(art, digests)} for art in chosen]


def _external(state: ExportState) -> dict[str, Any]:
    """What the user chose: which state, the stage commands and their params."""
    stages = [
        {
            "name": run.name,
            "command": list(run.command),
            "wdir": run.wdir,
            "params": {
                file: {key: value for key, value in sorted(values.items())}
                for file, values in sorted(run.params.items())
            },
        }
        for run in state.runs
    ]
    out: dict[str, Any] = {"kind": state.kind, "name": state.name, "stages": stages}
    if state.model is not None and state.model.reference is not None:
        out["modelReference"] = state.model.reference
    return out


def _internal(state: ExportState) -> dict[str, Any]:
    """The environment the state ran in (packages are resolved dependencies instead)."""
    env = state.environment
    out: dict[str, Any] = {key: env[key] for key in ENVIRONMENT_KEYS if key in env}
    if isinstance(env.get("variables"), dict):
        out["variables"] = env["variables"]
    out["stateId"] = state.state_id
    return out


def _dependencies(state: ExportState) -> list[dict[str, Any]]:
    """The code commit, the source data (data no bound run produced) and the packages."""
    deps: list[dict[str, Any]] = []
    code = state.code
    commit = code.get("commit")
    if commit or state.repository:
        rd: dict[str, Any] = {"name": "code"}
        if state.repository:
            branch = code.get("branch")
            ref = f"@refs/heads/{branch}" if branch else ""
            rd["uri"] = f"git+{state.repository}{ref}"
        if commit:
            rd["digest"] = {"gitCommit": str(commit)}
        if code.get("dirty"):
            rd["annotations"] = {"dirty": True, "diff": str(code.get("diff") or "")}
        deps.append(rd)
    produced = {o.path for o in state.outputs()}
    model = state.model_artifact
    for art in state.data:
        if art.path not in produced and (model is None or art.path != model.path):
            deps.append({"name": art.path, "digest": {"blake3": hashing.hex_of(art.hash)}})
    for pkg in common.packages(state.environment):
        rd = {"uri": pkg.purl}
        if pkg.commit:
            rd["digest"] = {"gitCommit": pkg.commit}
        notes = {k: True for k, v in (("editable", pkg.editable), ("localInstall", pkg.local)) if v}
        if notes:
            rd["annotations"] = notes
        deps.append(rd)
    return deps


def validate(doc: dict[str, Any]) -> None:
    """Parse the statement with in-toto-attestation's classes and validate it; a failure
    is a bug in this module, reported as such."""
    with common.library("in-toto-attestation"):
        from google.protobuf.json_format import ParseDict, ParseError
        from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
        from in_toto_attestation.v1 import statement_pb2
        from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
        from in_toto_attestation.v1.statement import Statement
    try:
        Statement.copy_from_pb(ParseDict(doc, statement_pb2.Statement())).validate()
        provenance = ParseDict(doc["predicate"], provenance_pb2.Provenance())
        for rd in provenance.build_definition.resolved_dependencies:
            ResourceDescriptor.copy_from_pb(rd).validate()
    except (ParseError, ValueError) as exc:
        raise AssertionError(f"SLSA statement failed in-toto validation: {exc}") from exc
    if not provenance.build_definition.build_type or not provenance.run_details.builder.id:
        raise AssertionError("SLSA provenance needs buildType and builder.id")
