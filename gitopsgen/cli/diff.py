"""``gitopsgen diff``: the rendered objects of each cluster at a base revision against the working tree, and the
merge-request note that shows them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .common import repo_option, repo_root, source_options, validator_settings


def default_diff_format(output: str | None) -> str:
    """A person at a terminal reads a unified diff; CI, a file and a pipe get Markdown (the merge-request note)."""
    return "diff" if not output and not os.environ.get("CI") and sys.stdout.isatty() else "markdown"


@click.command("diff")
@repo_option
@click.option("--base", "base", required=True, metavar="REF", help="Revision to compare with (branch, tag, commit).")
@click.option("--cluster", "clusters", multiple=True, metavar="NAME", help="Only this cluster (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "diff", "json"]),
    help="Default: diff on a terminal; markdown in CI ($CI set), into --output or a pipe.",
)
@click.option("--output", metavar="FILE", help="Write the diff to FILE instead of stdout.")
@click.option("--max-lines", default=400, show_default=True, metavar="N", help="Lines shown per object (0: all).")
@click.option("--context", "context", default=3, show_default=True, metavar="N", help="Unified-diff context lines.")
@click.option(
    "--kubernetes-version", metavar="X.Y", help="Kubernetes version Helm renders for (default: as validate, 1.36)."
)
@click.option(
    "--gitlab-note",
    is_flag=True,
    help="Also post the Markdown as a merge-request note (updated in place on later runs); needs GitLab CI's "
    "merge-request variables and GITOPSGEN_GITLAB_TOKEN.",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when a rendered object changes.")
@source_options
def diff_command(
    repo: str | None,
    base: str,
    clusters: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    max_lines: int,
    context: int,
    kubernetes_version: str | None,
    gitlab_note: bool,
    exit_code: bool,
    offline: bool | None,
    chart_cache: str | None,
    crds: tuple[str, ...],
    mirrors: tuple[str, ...],
) -> None:
    """Render each cluster at REF and in the working tree; show per cluster which objects change.

    Only clusters that read a changed file are rendered. Helm's chart label and checksum annotations are left
    out; Secret values are masked.
    """
    from .. import diff as rendered

    root = repo_root(repo)
    settings = validator_settings(root, clusters, kubernetes_version, offline, chart_cache, crds, mirrors)
    result = rendered.rendered_diff(root, base, settings, context=context)
    fmt = fmt or default_diff_format(output)
    text = rendered.render(result, fmt, max_lines=max_lines)
    if output:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    skipped = [c.name for c in result.clusters if c.status == "skipped"]
    for c in result.clusters:
        if c.status != "skipped":
            click.echo(f"{c.name}: {c.status} ({len(c.objects)} object(s) changed)", err=True)
    if skipped:
        click.echo(f"{len(skipped)} cluster(s) not rendered, no input changed: {', '.join(skipped)}", err=True)
    if gitlab_note:
        _post_note(text if fmt == "markdown" else rendered.render(result, "markdown", max_lines=max_lines))
    if exit_code and result.changed:
        raise click.exceptions.Exit(1)


def _post_note(markdown: str) -> None:
    """Post (or update in place) the merge request's rendered-diff note; a missing token is not an error."""
    from ..publish import gitlab

    target = gitlab.from_ci_environment(os.environ)
    if target is None:
        click.echo(f"gitlab note: not posted: {gitlab.ci_environment_reason(os.environ)}", err=True)
        return
    note = gitlab.upsert_note(markdown, **target)
    click.echo(f"gitlab note: {note.action} note {note.note_id}{' (truncated)' if note.truncated else ''}", err=True)
