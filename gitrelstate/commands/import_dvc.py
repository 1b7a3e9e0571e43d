"""``git relstate import-dvc [PATH]``: a DVC project's stages and data, imported."""

from __future__ import annotations

from pathlib import Path

from gitrelstate import ui
from gitrelstate.dvcimport.importer import import_project
from gitrelstate.repo import RUNS_DIR, Repo


def import_dvc(repo: Repo, cwd: Path, path: str | None) -> int:
    base = repo.relpath(cwd / path) if path else ""
    done = import_project(repo, base)
    for rel, where in done.data:
        ui.echo(f"imported data {rel} (from {where})")
    for name, dvc_name in done.fresh:
        shown = f" (DVC: {dvc_name})" if dvc_name != name else ""
        ui.echo(f"imported stage '{name}'{shown}: up to date")
    for name, dvc_name, reasons in done.stale:
        shown = f" (DVC: {dvc_name})" if dvc_name != name else ""
        ui.echo(f"imported stage '{name}'{shown}: stale ({'; '.join(reasons[:3])})")
    for fixed in done.ignore_fixed:
        ui.echo(f"un-ignored pointer {fixed}")
    for warning in done.warnings:
        ui.warn(warning)
    if done.from_cache:
        ui.echo(
            f"{len(done.from_cache)} path(s) came from DVC's cache and are not in the work "
            "tree: 'git relstate checkout' (or 'repro') puts them there"
        )
    total = len(done.fresh) + len(done.stale)
    ui.echo(
        f"imported {total} stage(s) ({len(done.stale)} stale) and {len(done.data)} tracked "
        "path(s); nothing ran, DVC's files are unchanged"
    )
    if done.stale:
        ui.echo("hint: 'git relstate repro' brings the stale stages up to date")
    ui.echo(f"hint: commit: git add {RUNS_DIR} '*.relstate.yaml' .gitignore && git commit")
    return 0
