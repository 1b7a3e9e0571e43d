"""``export``: a release or a run in a standard format (docs/provenance.md)."""

from __future__ import annotations

import click

from gitrelstate.cli.app import cli, cwd, in_repo
from gitrelstate.exports import FORMATS


@cli.command()
@click.argument("ref")
@click.option(
    "--format", "fmt", required=True, type=click.Choice(FORMATS), help="The format to write."
)
@click.option(
    "-o", "--output", metavar="FILE", help="Write to FILE (atomically) instead of stdout."
)
@click.option(
    "--emit",
    metavar="URL",
    help="openlineage: POST the events to this OpenLineage endpoint (e.g. http://host:5000).",
)
def export(ref: str, fmt: str, output: str | None, emit: str | None) -> int:
    """Export a release (or a run) as SLSA provenance, a CycloneDX ML-BOM, OpenLineage
    events or a Markdown model card. The same state always gives the same bytes."""
    from gitrelstate.commands.export import export as run

    if emit is not None and fmt != "openlineage":
        raise click.UsageError("--emit works only with --format openlineage")
    return in_repo(lambda repo: run(repo, cwd(), ref, fmt, output=output, emit=emit))
