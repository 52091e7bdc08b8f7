"""The fleet commands: ``init``, ``add-cluster``, ``upgrade``, ``remove-cluster``, ``generate``, ``list``.

Options are parsed here and turned into intent by :mod:`gitopsgen.generate.options`; planning is
:mod:`gitopsgen.generate`'s; what is written is reported on stderr.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..errors import InputError
from ..generate import checks, generator, generatorversion, intentfiles, options
from ..generate import intent as it
from ..generate.render.common import overlay_dir
from ..generate.scaffold import GITIGNORE, GITLAB_CI, readme
from ..generate.tree import Plan, plan
from ..generate.treewrite import apply
from .common import (
    dry_run_option,
    git_top,
    hold_lock,
    login_options,
    preview,
    publish_options,
    repo_option,
    repo_root,
    report_plan,
    take_login,
    take_publish,
    write_plan,
)


def _check_values(root: Path, fleet: it.Fleet, clusters: list[it.ClusterIntent]) -> None:
    """The HelmRelease values of clusters whose intent has ``values``, against the charts' values.schema.json
    (Helm's own check) where the chart is at hand; refused with the first problem, or said to be unchecked."""
    with_values = [c for c in clusters if c.values or any(p.values for p in c.worker_pools)]
    if not with_values:
        return
    from ..generate.render import cluster_objects, fleet_objects
    from ..generate.render.values import releases
    from ..validate.chartvalues import check

    base = fleet_objects(fleet)
    for c in with_values:
        r = it.resolve(fleet, c)
        result = check(root, releases(base, cluster_objects(r), r))
        if result.errors:
            more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
            rel = intentfiles.intent_path(root, c.name).relative_to(root).as_posix()
            raise InputError(f"values break the chart's values.schema.json: {result.errors[0]}{more}", file=rel)
        for note in result.unchecked:
            click.echo(
                f"gitopsgen: values of cluster {c.name} not checked against the chart's values.schema.json "
                f"(chart not at hand: {note}); 'gitopsgen validate' fetches it and checks them (H002)",
                err=True,
            )


@click.command()
@repo_option
@click.option("--git-url", help="URL Flux clones this repository from.")
@click.option("--branch", help="Branch Flux follows.")
@click.option("--registry", "registry_host", metavar="HOST", help="Default container registry.")
@click.option("--secret-store", metavar="NAME", help="Default ClusterSecretStore for credentials.")
@click.option(
    "--registry-credentials",
    type=click.Choice(["external-secrets", "sops"]),
    help="How pull secrets reach the clusters by default (default: external-secrets, from --secret-store).",
)
@click.option("--age-recipient", multiple=True, metavar="AGE1…", help="Default age recipient of SOPS pull secrets.")
@click.option("--prefect-version", metavar="X.Y.Z")
@click.option("--chart-version", metavar="VERSION")
@click.option("--chart-repository", metavar="URL")
@click.option("--gitlab-project", metavar="URL", help="https URL of the GitLab project (commit statuses).")
@click.option("--force", is_flag=True, help="Replace an existing gitopsgen.yaml.")
@dry_run_option
def init(repo: str | None, force: bool, dry_run: bool, **opts: Any) -> None:
    """Scaffold base/, overlays/, clusters/, fleet defaults, .gitlab-ci.yml and a README.

    The git URL and branch come from the repository (its origin remote, its current branch) unless given; what is
    still missing is asked for on a terminal, or listed at once.
    """
    from ..generate import initsettings

    if repo is None and git_top() is None:
        raise InputError(
            "not inside a git repository: run 'git init' first (Flux reads the fleet from git), or "
            "name the directory with --repo"
        )
    root = repo_root(repo)
    if (root / it.FLEET_FILE).exists() and not force:
        raise InputError(f"{it.FLEET_FILE} exists: this repository is already initialised (use --force to replace)")
    found = initsettings.repository_defaults(root)
    opts = {**opts, "git_url": opts["git_url"] or found.get("git_url"), "branch": opts["branch"] or found.get("branch")}
    ask = None
    if sys.stdin.isatty() and sys.stderr.isatty():

        def ask(option: str, what: str) -> str:
            return str(click.prompt(f"{option} ({what})", err=True))

    opts = initsettings.complete(opts, ask)
    hold_lock(root)
    fleet = options.fleet_from_options(opts, __version__)
    files = {it.FLEET_FILE: generator.fleet_text(fleet)}
    for rel, text in (("README.md", readme(fleet)), (".gitlab-ci.yml", GITLAB_CI), (".gitignore", GITIGNORE)):
        if not (root / rel).exists():
            files[rel] = text
    for keep in ("intent/clusters/.gitkeep", "overlays/.gitkeep", "clusters/.gitkeep"):
        if not (root / Path(keep).parent).is_dir():
            files[keep] = ""
    p = generator.merge([plan(root, files, []), generator.plan_fleet(root, fleet)])
    if dry_run:
        preview(p)
        return
    apply(root, p)
    report_plan(p)


@click.command("add-cluster")
@click.argument("name")
@repo_option
@click.option("--from", "from_cluster", metavar="CLUSTER", help="Start from another cluster's intent.")
@click.option("--force", is_flag=True, help="Replace an existing cluster.")
@click.option("--server-mode", type=click.Choice(["single", "ha"]))
@click.option("--server-replicas", type=click.IntRange(1, 50), help="API replicas (ha).")
@click.option("--storage-size", metavar="QUANTITY", help="SQLite volume size (single).")
@click.option("--storage-class", metavar="NAME", help="SQLite volume storage class (single).")
@click.option("--database-secret", metavar="NAME", help="Existing Secret with the PostgreSQL URL (ha).")
@click.option("--database-key", default="connection-string", show_default=True, help="Key in --database-secret.")
@click.option("--redis", metavar="bundled|HOST[:PORT]", help="Redis for ha: the chart's bundled one or a host.")
@click.option("--redis-secret", metavar="NAME", help="Secret: redis-password, docket-url keys.")
@click.option("--ingress-host", metavar="HOST")
@click.option("--ingress-class", metavar="NAME")
@click.option("--tls-secret", metavar="NAME", help="Existing TLS Secret for the ingress host.")
@click.option("--auth-secret", metavar="NAME", help="Existing Secret (key auth-string) for basic auth.")
@click.option(
    "--worker-pool",
    multiple=True,
    metavar="NAME[:k=v,...]",
    help="Kubernetes work pool (repeatable): queues=a+b, replicas, namespace, namespaces=a+b, flow-image, "
    "policy, ttl, cpu, memory, cpu-limit, memory-limit.",
)
@click.option("--flow-image", metavar="REPO[:TAG]", help="Default flow-run image of every pool.")
@click.option("--image-policy", metavar="RANGE", help="Semver range that image automation follows for flow images.")
@click.option("--prefect-policy", metavar="RANGE", help="Semver range for Prefect server/worker images.")
@click.option("--image-automation/--no-image-automation", default=None, help="Let Flux bump image tags.")
@click.option("--registry", "registry_host", metavar="HOST", help="Container registry (e.g. Harbor, GitLab).")
@click.option("--secret-store", metavar="NAME", help="ClusterSecretStore holding the registry credentials.")
@click.option("--registry-remote-key", metavar="KEY", help="Remote key (properties username, password).")
@click.option(
    "--registry-credentials",
    type=click.Choice(["external-secrets", "sops"]),
    help="Pull secrets from a ClusterSecretStore (default) or SOPS-encrypted in git (age).",
)
@click.option(
    "--age-recipient", multiple=True, metavar="AGE1…", help="age recipient of SOPS pull secrets (repeatable)."
)
@click.option("--cluster-uid", metavar="UUID", help="worker.clusterUid (default: derived from NAME).")
@click.option("--prefect-version", metavar="X.Y.Z")
@click.option("--chart-version", metavar="VERSION")
@login_options
@publish_options
@dry_run_option
def add_cluster(name: str, repo: str | None, from_cluster: str | None, force: bool, dry_run: bool, **o: Any) -> None:
    """Write the intent of cluster NAME and everything generated from it."""
    pub = take_publish(o)
    login = take_login(o)
    checks.dns_label(name, "cluster name", max_len=40)
    root = repo_root(repo)
    hold_lock(root)
    fleet = generator.require_scaffold(root)
    exists = intentfiles.intent_path(root, name).exists() or (root / overlay_dir(name, "")).exists()
    if exists and not force:
        raise InputError(f"cluster {name!r} exists (use --force to replace it)")
    template = intentfiles.load_cluster(root, from_cluster) if from_cluster else None
    cluster = options.build_cluster(name, template, o)
    resolved = it.resolve(fleet, cluster)  # registry and secret store must be known
    _check_values(root, fleet, [cluster])
    p = generator.plan_cluster(root, fleet, cluster, with_intent=True, login=login)
    if dry_run:
        preview(p, pub)
        return
    write_plan(root, p, f"{'Replace' if exists else 'Add'} cluster {name}", pub, also=_uncommitted_scaffold(root, pub))
    _secret_checklist(resolved)
    from ..generate.nextsteps import cluster_text

    click.echo(cluster_text(resolved), nl=False)


def _uncommitted_scaffold(root: Path, pub: Any) -> tuple[str, ...]:
    """With --commit: init's files not committed yet, so the first cluster's commit carries what it references."""
    if not pub.commits:
        return ()
    from ..publish.git import uncommitted

    scaffold = [
        it.FLEET_FILE,
        "README.md",
        ".gitlab-ci.yml",
        ".gitignore",
        "base",
        f"{it.INTENT_DIR}/.gitkeep",
        "overlays/.gitkeep",
        "clusters/.gitkeep",
    ]
    return tuple(uncommitted(root, [p for p in scaffold if (root / p).exists()]))


def _secret_checklist(r: it.Resolved) -> None:
    """Without a ClusterSecretStore nothing delivers the server's Secrets: say which to create (stderr)."""
    from ..generate.render.secrets import checklist

    todo = checklist(r)
    if todo:
        click.echo(f"{r.name} has no ClusterSecretStore: create these Secrets before the server starts:", err=True)
        for line in todo:
            click.echo(f"  - {line}", err=True)


def _dry_run(p: Plan, err: bool) -> None:
    """--dry-run: the paths that would change; nothing is written."""
    report_plan(p, "would write", "would delete", err=err)


@click.command()
@repo_option
@click.option("--prefect", "prefect_version", metavar="X.Y.Z", help="New Prefect version (image tags).")
@click.option("--chart", "chart_version", metavar="VERSION", help="New prefect-server/prefect-worker chart version.")
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    metavar="NAME",
    help="Pin this cluster only (repeatable); default: the fleet default in gitopsgen.yaml.",
)
@click.option("--include-pinned", is_flag=True, help="Fleet-wide: also move clusters that pin their own version.")
@click.option("--allow-downgrade", is_flag=True, help="Allow moving to an older version.")
@click.option("--dry-run", is_flag=True, help="Print the unified diff; write nothing.")
@publish_options
def upgrade(
    repo: str | None,
    prefect_version: str | None,
    chart_version: str | None,
    clusters: tuple[str, ...],
    include_pinned: bool,
    allow_downgrade: bool,
    dry_run: bool,
    **o: Any,
) -> None:
    """Move the Prefect and/or chart version, fleet-wide or on some clusters, and regenerate."""
    from ..generate import fleetops

    pub = take_publish(o)

    root = repo_root(repo)
    if not dry_run:
        hold_lock(root)
    op = fleetops.plan_upgrade(
        root,
        prefect=prefect_version,
        chart=chart_version,
        clusters=clusters,
        include_pinned=include_pinned,
        allow_downgrade=allow_downgrade,
    )
    for note in op.notes:
        click.echo(note, err=True)
    if dry_run:
        preview(op.plan, pub)
    else:
        write_plan(root, op.plan, op.message or "Upgrade", pub)
    for line in op.summary:
        click.echo(line, err=dry_run)


@click.command("remove-cluster")
@click.argument("name")
@repo_option
@click.option("--dry-run", is_flag=True, help="Print the files that would be deleted; delete nothing.")
@click.option("--yes", is_flag=True, help="Confirm: without it, the command says what it deletes and stops.")
@publish_options
def remove_cluster(name: str, repo: str | None, dry_run: bool, yes: bool, **o: Any) -> None:
    """Delete cluster NAME's intent, overlays/NAME/ and clusters/NAME/prefect/ (never flux-system/); Flux then
    deletes the cluster's Prefect workloads (namespaces, volumes and server Secrets are kept). Needs --yes."""
    from ..generate import fleetops

    pub = take_publish(o)

    root = repo_root(repo)
    if not dry_run and not yes:
        op = fleetops.plan_remove_cluster(root, name)
        click.echo(f"remove-cluster {name} deletes {len(op.plan.delete)} file(s): {_owned_summary(op.plan)}", err=True)
        for note in op.notes:
            click.echo(f"  {note}", err=True)
        raise InputError(f"removing cluster {name} deletes what is listed above: pass --yes to do it")
    if not dry_run:
        hold_lock(root)
    op = fleetops.plan_remove_cluster(root, name)
    if dry_run:
        _dry_run(op.plan, err=False)
    else:
        write_plan(root, op.plan, op.message or f"Remove cluster {name}", pub)
    for note in op.notes:
        click.echo(f"gitopsgen: warning: {note}", err=True)
    for line in op.summary:
        click.echo(line, err=dry_run)


def _owned_summary(p: Plan) -> str:
    """The deleted paths, a cluster's directories as one entry each, e.g. ``overlays/c1/ (9 files)``."""
    groups: dict[str, int] = {}
    for rel in sorted(p.delete):
        parts = rel.split("/")
        key = {"overlays": "/".join(parts[:2]) + "/", "clusters": "/".join(parts[:3]) + "/"}.get(parts[0], rel)
        groups[key] = groups.get(key, 0) + 1
    return ", ".join(f"{k} ({n} files)" if k.endswith("/") else k for k, n in groups.items())


@click.command()
@repo_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a unified diff if files differ.")
@click.option(
    "--rotate-registry-credentials",
    "rotate_host",
    metavar="HOST",
    help="Encrypt the SOPS pull secrets of registry HOST anew from the registry login (rotation).",
)
@login_options
@publish_options
@dry_run_option
def generate(repo: str | None, check: bool, rotate_host: str | None, dry_run: bool, **o: Any) -> None:
    """Regenerate base/ and every cluster from the intent.

    SOPS pull secrets are kept as they are; --rotate-registry-credentials HOST encrypts those of one registry
    anew from the login (GITOPSGEN_REGISTRY_USERNAME, and GITOPSGEN_REGISTRY_PASSWORD or
    --registry-password-stdin).
    """
    pub = take_publish(o)
    if check and rotate_host:
        raise InputError("--check writes nothing: it cannot take --rotate-registry-credentials")
    if rotate_host:
        login = take_login(o)
        if login is None:
            raise InputError(
                "--rotate-registry-credentials needs the registry login: GITOPSGEN_REGISTRY_PASSWORD "
                "or --registry-password-stdin"
            )
        login = replace(login, host=checks.registry_host(rotate_host))
    else:  # a login in the environment is not used: only an explicit rotation re-encrypts
        if o.pop("registry_username") or o.pop("registry_password_stdin"):
            raise InputError("--registry-username and --registry-password-stdin go with --rotate-registry-credentials")
        login = None
    if check and pub.active:
        raise InputError("--check writes nothing: it cannot take --branch, --commit or --push")
    if check and dry_run:
        raise InputError("--check and --dry-run: choose one (--check exits 1 on drift, --dry-run shows the writes)")
    root = repo_root(repo)
    if not check:
        hold_lock(root)
    fleet = generator.require_scaffold(root)
    recorded = fleet.generator_version
    if check:
        mismatch = generatorversion.check_mismatch(recorded)
        if mismatch is not None:
            click.echo(mismatch, err=True)
            sys.exit(1)
    else:
        generatorversion.refuse_older_writer(recorded)
    p = generator.plan_all(root, login=login)
    if not check:
        _check_values(root, fleet, [intentfiles.load_cluster(root, n) for n in intentfiles.cluster_names(root)])
    if not check and recorded != __version__:
        from ..generate import fleetops

        fleetops.record_generator_version(root, p)
    if check:
        if p.empty:
            click.echo("generated files match the intent", err=True)
            return
        click.echo(p.diff(), nl=False)
        n = len(p.write) + len(p.delete)
        click.echo(f"{n} generated file(s) differ from the intent: run 'gitopsgen generate'", err=True)
        sys.exit(1)
    if dry_run:
        preview(p, pub)
        return
    intent_files = (it.FLEET_FILE, *(f"{it.INTENT_DIR}/{n}.yaml" for n in intentfiles.cluster_names(root)))
    write_plan(root, p, "Regenerate from intent", pub, also=intent_files)


@click.command("list")
@repo_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_clusters(repo: str | None, fmt: str) -> None:
    """Clusters with server mode, Prefect and chart versions, work pools."""
    root = repo_root(repo)
    fleet = intentfiles.load_fleet(root)
    rows: list[dict[str, Any]] = []
    for name in intentfiles.cluster_names(root):
        c = intentfiles.load_cluster(root, name)
        r = it.resolve(fleet, c)
        rows.append(
            {
                "name": name,
                "serverMode": c.server.mode,
                "serverReplicas": c.server.replicas,
                "prefectVersion": r.prefect_version,
                "chartVersion": r.chart_version,
                "registry": r.registry_host,
                "imageAutomation": c.image_automation.enabled,
                "workPools": [
                    {
                        "name": p.name,
                        "namespace": p.namespace,
                        "namespaces": p.all_namespaces,
                        "queues": p.queues,
                        "replicas": p.replicas,
                        "flowImage": r.flow_image(p),
                    }
                    for p in c.worker_pools
                ],
            }
        )
    if fmt == "json":
        click.echo(json.dumps({"clusters": rows}, indent=2))
        return
    header = ("CLUSTER", "SERVER", "PREFECT", "CHART", "AUTOMATION", "WORK POOLS")
    table: list[tuple[object, ...]] = [header] + [
        (
            row["name"],
            f"{row['serverMode']} x{row['serverReplicas']}",
            row["prefectVersion"],
            row["chartVersion"],
            "on" if row["imageAutomation"] else "off",
            ", ".join(f"{p['name']}({p['replicas']})" for p in row["workPools"]),
        )
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for line in table:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
