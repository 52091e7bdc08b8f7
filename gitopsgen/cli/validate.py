"""The commands that read a repository as Flux applies it: ``validate``, ``build``, ``doctor``.

The validator is imported when a command runs, so the other commands start without it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from .common import repo_option, repo_root, source_options, terminal_progress, validator_settings


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@repo_option
@click.option("--cluster", "clusters", multiple=True, metavar="NAME", help="Validate only this cluster (repeatable).")
@click.option(
    "--entry",
    "entries",
    multiple=True,
    metavar="PATH",
    help="Where Flux starts (repeatable): a directory, or the file of a root Kustomization or FluxInstance; "
    "replaces finding the clusters (default: flux-system sync files, FluxInstances, clusters/<name>/).",
)
@click.option(
    "--kubernetes-version",
    metavar="X.Y",
    help="Kubernetes schemas to validate against (default: the newest Flux v2.9 supports, 1.36).",
)
@click.option(
    "--shard",
    metavar="K/N",
    help="Validate the K-th of N shares of the clusters (GitLab parallel: $CI_NODE_INDEX/$CI_NODE_TOTAL).",
)
@click.option("--changed-since", metavar="REF", help="Validate only the clusters that read a file changed since REF.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Neither reuse nor store results in the result cache ($GITOPSGEN_CACHE_DIR/results; default "
    "~/.cache/gitopsgen/results).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "codequality", "sarif", "markdown"]),
    default="text",
    show_default=True,
)
@click.option("--output", metavar="FILE", help="Write the report to FILE (the text summary still goes to stderr).")
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FORMAT=FILE",
    help="Also write a report in FORMAT to FILE (repeatable), e.g. codequality=gl-code-quality-report.json.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding of this severity or worse is reported.",
)
@click.option("--quiet", "-q", is_flag=True, help="Text format: only errors and the summary line.")
@source_options
def validate(
    path: str | None,
    repo: str | None,
    fail_on: str,
    quiet: bool,
    clusters: tuple[str, ...],
    entries: tuple[str, ...],
    kubernetes_version: str | None,
    shard: str | None,
    changed_since: str | None,
    no_cache: bool,
    fmt: str,
    output: str | None,
    reports: tuple[str, ...],
    offline: bool | None,
    chart_cache: str | None,
    crds: tuple[str, ...],
    mirrors: tuple[str, ...],
) -> None:
    """Find what Flux, kustomize, Helm and Kubernetes would reject, at file:line (PATH or --repo: the repository).

    Exit 0: no error findings; 1: error findings; 2: the validation could not run. With --fail-on warning, warnings
    count as errors for the exit code.
    """
    from ..validate import engine, report
    from ..validate.catalogue import RULES
    from ..validate.findings import Severity

    if path and repo and Path(path).resolve() != Path(repo).resolve():
        raise InputError(f"PATH {path} and --repo {repo} name different repositories: give one")
    path = path or repo
    root = Path(path).resolve() if path else repo_root(None)
    if not root.is_dir():
        raise InputError(f"{path}: not a directory")
    extra: list[tuple[str, Path]] = []
    for spec in reports:
        name, sep, file = spec.partition("=")
        if not sep or name not in report.FORMATS or not file:
            raise InputError(f"--report {spec}: expected FORMAT=FILE with FORMAT one of {', '.join(report.FORMATS)}")
        extra.append((name, Path(file)))
    from ..validate.config import parse_shard

    settings = validator_settings(root, clusters, kubernetes_version, offline, chart_cache, crds, mirrors)
    settings = replace(
        settings, shard=parse_shard(shard) if shard else None, changed_since=changed_since, cache=not no_cache
    )
    if entries:
        named = []
        for e in entries:
            target = (Path.cwd() / e).resolve() if not (root / e).exists() else (root / e).resolve()
            if not target.exists() or not target.is_relative_to(root):
                raise InputError(f"--entry {e}: no such file or directory in {root}")
            named.append(target.relative_to(root).as_posix() or ".")
        settings = replace(settings, entries=tuple(named))
    result = engine.validate(root, settings, progress=terminal_progress())
    flat = {k: v for k, v in result.stats.items() if not isinstance(v, dict)}  # per-stage timings: JSON only
    kwargs: dict[str, Any] = {"root_name": root.name, "clusters": result.clusters, "rules": RULES}
    shown = [f for f in result.findings if f.severity == Severity.ERROR] if quiet and fmt == "text" else None
    text = report.render(
        result.findings if shown is None else shown, fmt, stats=result.stats if fmt == "json" else flat, **kwargs
    )
    if shown is not None:  # the summary line still counts every finding
        summary = report.render(result.findings, "text", stats=flat, **kwargs).rstrip("\n").splitlines()[-1]
        text = "\n".join([*text.rstrip("\n").splitlines()[:-1], summary])
    if fmt == "text" and not quiet:  # which entry each cluster was found from
        text = "".join(f"{line}\n" for line in result.entries) + text
    for name, report_file in extra:
        report_file.parent.mkdir(parents=True, exist_ok=True)
        body = report.render(result.findings, name, stats=result.stats if name == "json" else flat, **kwargs)
        report_file.write_text(body if body.endswith("\n") else body + "\n", encoding="utf-8")
    if output:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        summary = report.render(result.findings, "text", stats=flat, **kwargs).rstrip("\n").splitlines()[-1]
        click.echo(f"{summary}; {fmt} report in {output}", err=True)
    else:
        click.echo(text.rstrip("\n"))
    failing = result.count(Severity.ERROR) + (result.count(Severity.WARNING) if fail_on == "warning" else 0)
    if failing:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("cluster")
@repo_option
@click.option(
    "--kustomization", metavar="[NAMESPACE/]NAME", help="Only what this Flux Kustomization applies (and Helm renders)."
)
@click.option("--kubernetes-version", metavar="X.Y", help="Kubernetes version Helm renders for.")
@source_options
def build(
    cluster: str,
    repo: str | None,
    kustomization: str | None,
    kubernetes_version: str | None,
    offline: bool | None,
    chart_cache: str | None,
    crds: tuple[str, ...],
    mirrors: tuple[str, ...],
) -> None:
    """Print what Flux would apply in CLUSTER, as YAML (like 'flux build kustomization', with Helm renders).

    The validator's build: kustomize with Flux's transforms and postBuild substitution, every HelmRelease rendered.
    Each object is preceded by a comment naming its file:line and what applied or rendered it. Problems of the
    build go to stderr; exit 1 when the build had errors.
    """
    from ..validate.export import applied_by, header, kustomization_names
    from ..validate.findings import Severity
    from ..validate.workspace import Workspace, select_clusters
    from ..yamlio import dump_documents

    root = repo_root(repo)
    settings = validator_settings(root, (cluster,), kubernetes_version, offline, chart_cache, crds, mirrors)
    workspace = Workspace.open(root, settings)
    rendered = workspace.render(select_clusters(workspace.repo, settings))[0]
    manifests = rendered.build.cluster.manifests
    if kustomization:
        known = kustomization_names(manifests)
        manifests = applied_by(manifests, kustomization)
        if not manifests:
            raise InputError(f"--kustomization {kustomization}: not applied in {cluster} (known: {', '.join(known)})")
    for m in manifests:
        click.echo("---\n" + header(m))
        click.echo(dump_documents([m.data]), nl=False)
    errors = [f for f in rendered.findings if f.severity == Severity.ERROR]
    for f in rendered.findings:
        click.echo(f"{f.file}:{f.line}: {f.severity.value} {f.rule} {f.message}", err=True)
    if errors:
        raise click.exceptions.Exit(1)


@click.command()
@repo_option
@click.option("--kubernetes-version", metavar="X.Y", help="Kubernetes schemas to check for.")
@source_options
def doctor(
    repo: str | None,
    kubernetes_version: str | None,
    offline: bool | None,
    chart_cache: str | None,
    crds: tuple[str, ...],
    mirrors: tuple[str, ...],
) -> None:
    """Check that this machine and repository are ready: kustomize, schemas, chart access, git identity and remote.

    One line per check (ok, warn, fail); exit 1 when a check fails.
    """
    from ..doctor import FAIL, run_all

    root = repo_root(repo)
    checks_run = run_all(root, validator_settings(root, (), kubernetes_version, offline, chart_cache, crds, mirrors))
    for c in checks_run:
        click.echo(c.line())
    if any(c.status == FAIL for c in checks_run):
        raise click.exceptions.Exit(1)
