"""The ``gitopsgen`` command line (click): parsing options and printing results, nothing more.

Exit codes: 0 ok, 1 drift (``generate --check``), 2 usage or input error (one line on stderr,
nothing written).
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click

from . import __version__
from .completion import SHELLS
from .errors import InputError
from .generate import checks, generator, generatorversion
from .generate import intent as it
from .generate.render.common import overlay_dir
from .generate.scaffold import GITIGNORE, GITLAB_CI, readme
from .generate.tree import Plan, apply, lock, plan


def _git_top() -> str | None:
    """The work tree of the git repository holding the current directory, or None."""
    import git  # GitPython: imported where needed (a validate run with a PATH does without it)

    try:
        top = git.Repo(Path.cwd(), search_parent_directories=True).working_tree_dir
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    return str(top) if top else None


def _repo_root(repo: str | None) -> Path:
    if repo is not None:
        path = Path(repo)
        if not path.is_dir():
            raise InputError(f"--repo {repo}: not a directory")
        return path.resolve()
    return Path(_git_top() or Path.cwd()).resolve()


def _hold_lock(root: Path) -> None:
    """Hold the repository's write lock until the command ends (planning included), so two runs cannot
    interleave and a run that was killed mid-write is rolled back before this one plans."""
    click.get_current_context().with_resource(lock(root))


def _report(p: Plan, wrote: str = "wrote", deleted: str = "deleted", err: bool = True) -> None:
    for rel in sorted(p.write):
        click.echo(f"{wrote} {rel}", err=err)
    for rel in sorted(p.delete):
        click.echo(f"{deleted} {rel}", err=err)
    if p.empty:
        click.echo("nothing to change", err=True)


repo_option = click.option("--repo", metavar="DIR", help="Repository root (default: the git top level).")
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Print the unified diff of what would change; write nothing."
)


def _preview(p: Plan, pub: Any = None) -> None:
    """--dry-run: the unified diff on stdout, the paths on stderr; nothing is written, committed or pushed."""
    if pub is not None and pub.active:
        raise InputError("--dry-run writes nothing: it cannot take --branch, --commit, --push or --merge-request")
    click.echo(p.diff(), nl=False)
    _report(p, "would write", "would delete", err=True)


def login_options(f: Any) -> Any:
    """The registry login for SOPS pull secrets: the username, and the password from standard input (or
    GITOPSGEN_REGISTRY_PASSWORD) — never as an argument."""
    f = click.option(
        "--registry-password-stdin",
        is_flag=True,
        help="Read the registry password from standard input (else GITOPSGEN_REGISTRY_PASSWORD).",
    )(f)
    return click.option(
        "--registry-username",
        metavar="USER",
        help="Registry login for SOPS pull secrets (else $GITOPSGEN_REGISTRY_USERNAME).",
    )(f)


def publish_options(f: Any) -> Any:
    """--branch/--commit/--push/--merge-request: the write commands' merge-request workflow."""
    options = [
        click.option("--branch", "publish_branch", metavar="NAME", help="Create this branch and write there."),
        click.option("--commit", "publish_commit", is_flag=True, help="Commit the written files (one commit)."),
        click.option("--push", "publish_push", is_flag=True, help="Push the branch (implies --commit)."),
        click.option("--remote", "publish_remote", default="origin", show_default=True, metavar="NAME"),
        click.option(
            "--merge-request",
            "publish_mr",
            is_flag=True,
            help="Ask GitLab to open a merge request (push options) with a summary of what changed.",
        ),
        click.option("--target", "publish_target", metavar="BRANCH", help="Merge request target branch."),
        click.option("--title", "publish_title", metavar="TEXT", help="Merge request title (default: the commit's)."),
        click.option("--label", "publish_labels", multiple=True, metavar="LABEL", help="Merge request label."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _publish(o: dict[str, Any]) -> Any:
    """Take the publish options out of a command's keyword arguments."""
    from .publish.mergerequest import Publish

    return Publish(
        branch=o.pop("publish_branch"),
        commit=o.pop("publish_commit"),
        push=o.pop("publish_push"),
        remote=o.pop("publish_remote"),
        merge_request=o.pop("publish_mr"),
        target=o.pop("publish_target"),
        title=o.pop("publish_title"),
        labels=tuple(o.pop("publish_labels")),
    )


def _login(o: dict[str, Any]) -> Any:
    """Take the registry login options out of a command's keyword arguments."""
    from .generate.credentials import login_from_process

    return login_from_process(o.pop("registry_username"), o.pop("registry_password_stdin"))


def _check_values(root: Path, fleet: it.Fleet, clusters: list[it.ClusterIntent]) -> None:
    """The HelmRelease values of clusters whose intent has ``values``, against the charts' values.schema.json
    (Helm's own check) where the chart is at hand; refused with the first problem, or said to be unchecked."""
    with_values = [c for c in clusters if c.values or any(p.values for p in c.worker_pools)]
    if not with_values:
        return
    from .generate.render import cluster_objects, fleet_objects
    from .generate.render.values import releases
    from .validate.chartvalues import check

    base = fleet_objects(fleet)
    for c in with_values:
        r = it.resolve(fleet, c)
        result = check(root, releases(base, cluster_objects(r), r))
        if result.errors:
            more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
            rel = it.intent_path(root, c.name).relative_to(root).as_posix()
            raise InputError(f"values break the chart's values.schema.json: {result.errors[0]}{more}", file=rel)
        for note in result.unchecked:
            click.echo(
                f"gitopsgen: values of cluster {c.name} not checked against the chart's values.schema.json "
                f"(chart not at hand: {note}); 'gitopsgen validate' fetches it and checks them (H002)",
                err=True,
            )


def _write(root: Path, p: Plan, subject: str, pub: Any, also: tuple[str, ...] = ()) -> None:
    """Write a plan, on a branch / committed / pushed as the publish options say; report on stderr."""
    from .publish.mergerequest import write

    done = write(root, p, subject, pub, report=_report, also=also)
    if done.commit:
        click.echo(f"committed {done.commit[:12]} on {done.branch}: {subject.splitlines()[0]}", err=True)
    elif pub.commits and not p.empty:
        click.echo("nothing to commit", err=True)
    if done.push is not None:
        click.echo(f"pushed {done.push.branch} to {done.push.remote} ({done.push.summary})", err=True)
        for line in done.push.remote_messages:
            click.echo(f"remote: {line}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitopsgen")
def cli() -> None:
    """Generate and check Flux v2.9 repositories that run self-hosted Prefect on Kubernetes."""


# ---------------------------------------------------------------- init


@cli.command()
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
    from .generate import initsettings

    if repo is None and _git_top() is None:
        raise InputError(
            "not inside a git repository: run 'git init' first (Flux reads the fleet from git), or "
            "name the directory with --repo"
        )
    root = _repo_root(repo)
    if (root / it.FLEET_FILE).exists() and not force:
        raise InputError(f"{it.FLEET_FILE} exists: this repository is already initialised (use --force to replace)")
    found = initsettings.repository_defaults(root)
    opts = {**opts, "git_url": opts["git_url"] or found.get("git_url"), "branch": opts["branch"] or found.get("branch")}
    ask = None
    if sys.stdin.isatty() and sys.stderr.isatty():

        def ask(option: str, what: str) -> str:
            return str(click.prompt(f"{option} ({what})", err=True))

    opts = initsettings.complete(opts, ask)
    _hold_lock(root)
    fleet = it.Fleet(generator_version=__version__)
    git_changes: dict[str, Any] = {}
    if opts["git_url"]:
        git_changes["url"] = opts["git_url"]
    if opts["branch"]:
        git_changes["branch"] = opts["branch"]
    fleet = replace(fleet, git=replace(fleet.git, **git_changes))
    fleet = replace(
        fleet,
        registry=it.RegistrySettings(
            host=opts["registry_host"],
            secret_store=opts["secret_store"] or None,
            credentials=opts["registry_credentials"],
            age_recipients=list(opts["age_recipient"]) or None,
        ),
    )
    if opts["prefect_version"]:
        fleet = replace(fleet, prefect=replace(fleet.prefect, version=opts["prefect_version"]))
    chart_changes = {k: opts[f"chart_{k}"] for k in ("version", "repository") if opts[f"chart_{k}"]}
    fleet = replace(fleet, chart=replace(fleet.chart, **chart_changes))
    if opts["gitlab_project"]:
        fleet = replace(fleet, notifications=replace(fleet.notifications, gitlab_project=opts["gitlab_project"]))
    it.check_fleet(fleet)
    files = {it.FLEET_FILE: generator.fleet_text(fleet)}
    for rel, text in (("README.md", readme(fleet)), (".gitlab-ci.yml", GITLAB_CI), (".gitignore", GITIGNORE)):
        if not (root / rel).exists():
            files[rel] = text
    for keep in ("intent/clusters/.gitkeep", "overlays/.gitkeep", "clusters/.gitkeep"):
        if not (root / Path(keep).parent).is_dir():
            files[keep] = ""
    p = generator.merge([plan(root, files, []), generator.plan_fleet(root, fleet)])
    if dry_run:
        _preview(p)
        return
    apply(root, p)
    _report(p)


# ---------------------------------------------------------------- add-cluster

_POOL_KEYS = {
    "queues",
    "replicas",
    "namespace",
    "namespaces",
    "flow-image",
    "policy",
    "ttl",
    "cpu",
    "memory",
    "cpu-limit",
    "memory-limit",
}


def _split_image(ref: str, what: str) -> tuple[str, str | None]:
    """REPO[:TAG] → (repo, tag); a ':' before the last '/' belongs to a registry port."""
    if "@" in ref:
        raise InputError(f"{what} {ref!r}: give REPO[:TAG], not a digest")
    head, sep, tail = ref.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return ref, None


def _lowest_version(semver_range: str) -> str | None:
    """The version a range starts from, e.g. '>=1.2.0 <2.0.0' → '1.2.0' (for the first flow image tag)."""
    m = re.match(r"^\s*(>=|\^|~|=)?\s*v?([0-9]+\.[0-9]+\.[0-9]+)(\s|$)", semver_range)
    return m.group(2) if m else None


def parse_pool(spec: str, defaults: dict[str, Any]) -> it.WorkPoolIntent:
    """NAME[:key=value,...] with keys queues (a+b), replicas, namespace, namespaces (a+b: the namespaces the
    pool's deployments may target, the first the default), flow-image, policy, ttl, cpu, memory, cpu-limit,
    memory-limit."""
    name, _, rest = spec.partition(":")
    values: dict[str, Any] = {"name": name, **defaults}
    if rest:
        for item in re.split(r",(?=[a-z-]+=)", rest):
            key, sep, value = item.partition("=")
            if not sep or key not in _POOL_KEYS:
                raise InputError(
                    f"--worker-pool {spec!r}: {item!r} is not KEY=VALUE with KEY one of {', '.join(sorted(_POOL_KEYS))}"
                )
            if key == "queues":
                values["queues"] = [q for q in value.split("+") if q]
            elif key == "namespaces":
                values["namespaces"] = [n for n in value.split("+") if n]
            elif key in ("replicas", "ttl"):
                try:
                    number = int(value)
                except ValueError:
                    raise InputError(f"--worker-pool {spec!r}: {key} {value!r} is not an integer") from None
                values["replicas" if key == "replicas" else "finished_job_ttl"] = number
            elif key == "flow-image":
                values["flow_image_ref"] = value
            elif key == "policy":
                values["flow_image_policy"] = value
            else:
                values[
                    {
                        "namespace": "namespace",
                        "cpu": "cpu_request",
                        "memory": "memory_request",
                        "cpu-limit": "cpu_limit",
                        "memory-limit": "memory_limit",
                    }[key]
                ] = value
    if values.get("namespaces") is not None:  # namespaces=a+b: a is the default unless namespace= says otherwise
        given = values["namespaces"]
        values.setdefault("namespace", given[0] if given else it.WorkPoolIntent.namespace)
        values["namespaces"] = [n for n in given if n != values["namespace"]] or None
    memory, default_limit = values.get("memory_request"), it.WorkPoolIntent.memory_limit
    if (
        memory
        and "memory_limit" not in values
        and default_limit
        and checks.quantity_value(checks.quantity(memory, f"--worker-pool {spec!r}: memory"))
        > checks.quantity_value(default_limit)
    ):
        values["memory_limit"] = memory  # the default limit follows a larger request; a limit given is kept
    ref = values.pop("flow_image_ref", None)
    if ref:
        repo, tag = _split_image(ref, "flow image")
        values["flow_image"] = repo
        values["flow_image_tag"] = tag or (
            _lowest_version(values["flow_image_policy"]) if values.get("flow_image_policy") else None
        )
    return it.WorkPoolIntent(**values)


def _server_from_options(base: it.ServerIntent, o: dict[str, Any]) -> it.ServerIntent:
    s = base
    if o["server_mode"]:
        s = replace(s, mode=o["server_mode"])
        if o["server_mode"] == "single":
            s = replace(s, replicas=1, database=None, redis=None)
        elif s.replicas < 2 and not o["server_replicas"]:
            s = replace(s, replicas=2)
    if o["server_replicas"] is not None:
        s = replace(s, replicas=o["server_replicas"])
    if o["storage_size"]:
        s = replace(s, storage_size=o["storage_size"])
    if o["storage_class"]:
        s = replace(s, storage_class=o["storage_class"])
    if o["database_secret"]:
        s = replace(s, database=it.DatabaseIntent(secret=o["database_secret"], key=o["database_key"]))
    if o["redis"] or o["redis_secret"]:
        current = s.redis or it.RedisIntent()
        host, port = current.host, current.port
        if o["redis"]:
            if o["redis"] == "bundled":
                host, port = None, 6379
            else:
                host, _, port_text = o["redis"].partition(":")
                if port_text:
                    if not port_text.isdigit():
                        raise InputError(f"--redis {o['redis']!r}: port {port_text!r} is not a number")
                    port = int(port_text)
        s = replace(s, redis=it.RedisIntent(host=host, port=port, secret=o["redis_secret"] or current.secret))
    if s.mode == "ha" and s.redis is None:
        s = replace(s, redis=it.RedisIntent())
    if o["ingress_host"] or o["ingress_class"] or o["tls_secret"]:
        if s.ingress is None and not o["ingress_host"]:
            raise InputError("--ingress-class and --tls-secret need --ingress-host")
        current = s.ingress or it.IngressIntent(host=o["ingress_host"])
        s = replace(  # a setting not given keeps the template's (--from)
            s,
            ingress=replace(
                current,
                host=o["ingress_host"] or current.host,
                class_name=o["ingress_class"] or current.class_name,
                tls_secret=o["tls_secret"] or current.tls_secret,
            ),
        )
    if o["auth_secret"]:
        s = replace(s, auth_secret=o["auth_secret"])
    return s


def build_cluster(name: str, template: it.ClusterIntent | None, o: dict[str, Any]) -> it.ClusterIntent:
    """The new cluster's intent: ``template`` (from --from) or defaults, then the options."""
    if template is not None:
        if template.server.ingress is not None and not o["ingress_host"]:
            raise InputError(
                f"cluster {template.name} has ingress host {template.server.ingress.host}: give {name} its own "
                "with --ingress-host"
            )
        cluster = replace(template, name=name, cluster_uid=o["cluster_uid"] or it.default_cluster_uid(name))
    else:
        cluster = it.ClusterIntent(name=name, cluster_uid=o["cluster_uid"] or it.default_cluster_uid(name))
    cluster = replace(cluster, server=_server_from_options(cluster.server, o))
    pool_defaults: dict[str, Any] = {}
    if o["flow_image"]:
        pool_defaults["flow_image_ref"] = o["flow_image"]
    if o["image_policy"]:
        pool_defaults["flow_image_policy"] = o["image_policy"]
    if o["worker_pool"]:
        pools = [parse_pool(spec, pool_defaults) for spec in o["worker_pool"]]
    elif template is not None:
        pools = list(template.worker_pools)
        if pool_defaults:
            pools = [parse_pool(p.name, {**_pool_dict(p), **pool_defaults}) for p in pools]
    else:
        pools = [parse_pool("default", pool_defaults)]
    cluster = replace(cluster, worker_pools=pools)
    registry = cluster.registry
    if o["registry_host"]:
        registry = replace(registry, host=o["registry_host"])
    if o["secret_store"]:
        registry = replace(registry, secret_store=o["secret_store"])
    if o["registry_remote_key"]:
        registry = replace(registry, remote_key=o["registry_remote_key"])
    if o.get("registry_credentials"):
        registry = replace(registry, credentials=o["registry_credentials"])
    if o.get("age_recipient"):
        registry = replace(registry, age_recipients=sorted(set(o["age_recipient"])))
    cluster = replace(cluster, registry=registry)
    automation = cluster.image_automation
    if o["image_automation"] is not None:
        automation = replace(automation, enabled=o["image_automation"])
    elif o["image_policy"] or o["prefect_policy"]:
        automation = replace(automation, enabled=True)
    if o["prefect_policy"]:
        automation = replace(automation, prefect_policy=o["prefect_policy"])
    cluster = replace(cluster, image_automation=automation)
    if o["prefect_version"]:
        cluster = replace(cluster, prefect_version=o["prefect_version"])
    if o["chart_version"]:
        cluster = replace(cluster, chart_version=o["chart_version"])
    return it.check_cluster(cluster)


def _pool_dict(p: it.WorkPoolIntent) -> dict[str, Any]:
    d = {k: v for k, v in asdict(p).items() if k != "name"}
    if d.get("flow_image"):
        d["flow_image_ref"] = f"{d.pop('flow_image')}:{d.pop('flow_image_tag')}"
    return d


@cli.command("add-cluster")
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
    pub = _publish(o)
    login = _login(o)
    checks.dns_label(name, "cluster name", max_len=40)
    root = _repo_root(repo)
    _hold_lock(root)
    fleet = generator.require_scaffold(root)
    exists = it.intent_path(root, name).exists() or (root / overlay_dir(name, "")).exists()
    if exists and not force:
        raise InputError(f"cluster {name!r} exists (use --force to replace it)")
    template = it.load_cluster(root, from_cluster) if from_cluster else None
    cluster = build_cluster(name, template, o)
    resolved = it.resolve(fleet, cluster)  # registry and secret store must be known
    _check_values(root, fleet, [cluster])
    p = generator.plan_cluster(root, fleet, cluster, with_intent=True, login=login)
    if dry_run:
        _preview(p, pub)
        return
    _write(root, p, f"{'Replace' if exists else 'Add'} cluster {name}", pub, also=_uncommitted_scaffold(root, pub))
    _secret_checklist(resolved)
    from .generate.nextsteps import cluster_text

    click.echo(cluster_text(resolved), nl=False)


def _uncommitted_scaffold(root: Path, pub: Any) -> tuple[str, ...]:
    """With --commit: init's files not committed yet, so the first cluster's commit carries what it references."""
    if not pub.commits:
        return ()
    from .publish.git import uncommitted

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
    from .generate.render.secrets import checklist

    todo = checklist(r)
    if todo:
        click.echo(f"{r.name} has no ClusterSecretStore: create these Secrets before the server starts:", err=True)
        for line in todo:
            click.echo(f"  - {line}", err=True)


# ---------------------------------------------------------------- upgrade / remove-cluster


def _dry_run(p: Plan, err: bool) -> None:
    """--dry-run: the paths that would change; nothing is written."""
    _report(p, "would write", "would delete", err=err)


@cli.command()
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
    from .generate import fleetops

    pub = _publish(o)

    root = _repo_root(repo)
    if not dry_run:
        _hold_lock(root)
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
        _preview(op.plan, pub)
    else:
        _write(root, op.plan, op.message or "Upgrade", pub)
    for line in op.summary:
        click.echo(line, err=dry_run)


@cli.command("remove-cluster")
@click.argument("name")
@repo_option
@click.option("--dry-run", is_flag=True, help="Print the files that would be deleted; delete nothing.")
@click.option("--yes", is_flag=True, help="Confirm: without it, the command says what it deletes and stops.")
@publish_options
def remove_cluster(name: str, repo: str | None, dry_run: bool, yes: bool, **o: Any) -> None:
    """Delete cluster NAME's intent, overlays/NAME/ and clusters/NAME/prefect/ (never flux-system/); Flux then
    deletes the cluster's Prefect workloads (namespaces, volumes and server Secrets are kept). Needs --yes."""
    from .generate import fleetops

    pub = _publish(o)

    root = _repo_root(repo)
    if not dry_run and not yes:
        op = fleetops.plan_remove_cluster(root, name)
        click.echo(f"remove-cluster {name} deletes {len(op.plan.delete)} file(s): {_owned_summary(op.plan)}", err=True)
        for note in op.notes:
            click.echo(f"  {note}", err=True)
        raise InputError(f"removing cluster {name} deletes what is listed above: pass --yes to do it")
    if not dry_run:
        _hold_lock(root)
    op = fleetops.plan_remove_cluster(root, name)
    if dry_run:
        _dry_run(op.plan, err=False)
    else:
        _write(root, op.plan, op.message or f"Remove cluster {name}", pub)
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


# ---------------------------------------------------------------- generate / list


@cli.command()
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
    pub = _publish(o)
    if check and rotate_host:
        raise InputError("--check writes nothing: it cannot take --rotate-registry-credentials")
    if rotate_host:
        login = _login(o)
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
    root = _repo_root(repo)
    if not check:
        _hold_lock(root)
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
        _check_values(root, fleet, [it.load_cluster(root, n) for n in it.cluster_names(root)])
    if not check and recorded != __version__:
        from .generate import fleetops

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
        _preview(p, pub)
        return
    intent_files = (it.FLEET_FILE, *(f"{it.INTENT_DIR}/{n}.yaml" for n in it.cluster_names(root)))
    _write(root, p, "Regenerate from intent", pub, also=intent_files)


@cli.command("list")
@repo_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_clusters(repo: str | None, fmt: str) -> None:
    """Clusters with server mode, Prefect and chart versions, work pools."""
    root = _repo_root(repo)
    fleet = it.load_fleet(root)
    rows = []
    for name in it.cluster_names(root):
        c = it.load_cluster(root, name)
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
    table = [header] + [
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
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


# ---------------------------------------------------------------- validate


def source_options(f: Any) -> Any:
    """Where CRDs and charts come from: the options ``validate`` and ``diff`` share."""
    f = click.option(
        "--helm-mirror",
        "mirrors",
        multiple=True,
        metavar="URL=MIRROR",
        help="Serve a Helm repository URL from a mirror URL or local directory (repeatable).",
    )(f)
    f = click.option("--crds", multiple=True, metavar="PATH", help="CRD file or directory (repeatable); also cached.")(
        f
    )
    f = click.option(
        "--chart-cache", metavar="DIR", help="Where charts are cached (default ~/.cache/gitopsgen/charts)."
    )(f)
    return click.option("--offline", is_flag=True, default=None, help="Use only the chart cache; never download.")(f)


def _settings(
    root: Path,
    clusters: tuple[str, ...],
    kubernetes_version: str | None,
    offline: bool | None,
    chart_cache: str | None,
    crds: tuple[str, ...],
    mirrors: tuple[str, ...],
) -> Any:
    """The repository's validator settings with the command line's overrides."""
    from .validate import config

    settings = config.load_settings(root)
    overrides: dict[str, Any] = {"clusters": clusters}
    if kubernetes_version:
        overrides["kubernetes_version"] = kubernetes_version
    if offline is not None:
        overrides["offline"] = offline
    if chart_cache:
        overrides["chart_cache"] = Path(chart_cache).expanduser().resolve()
    if crds:
        for c in crds:
            if not Path(c).exists():
                raise InputError(f"--crds {c}: no such file or directory")
        overrides["crds"] = settings.crds + tuple(Path(c).resolve() for c in crds)
    if mirrors:
        overrides["helm_mirrors"] = settings.helm_mirrors + tuple(config.parse_mirror(m) for m in mirrors)
    return replace(settings, **overrides)


@cli.command()
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
    from .validate import engine, report
    from .validate.findings import RULES, Severity

    if path and repo and Path(path).resolve() != Path(repo).resolve():
        raise InputError(f"PATH {path} and --repo {repo} name different repositories: give one")
    path = path or repo
    root = Path(path).resolve() if path else _repo_root(None)
    if not root.is_dir():
        raise InputError(f"{path}: not a directory")
    extra: list[tuple[str, Path]] = []
    for spec in reports:
        name, sep, file = spec.partition("=")
        if not sep or name not in report.FORMATS or not file:
            raise InputError(f"--report {spec}: expected FORMAT=FILE with FORMAT one of {', '.join(report.FORMATS)}")
        extra.append((name, Path(file)))
    from .validate.config import parse_shard

    settings = _settings(root, clusters, kubernetes_version, offline, chart_cache, crds, mirrors)
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
    result = engine.validate(root, settings, progress=_terminal_progress())
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
    for name, file in extra:
        file.parent.mkdir(parents=True, exist_ok=True)
        body = report.render(result.findings, name, stats=result.stats if name == "json" else flat, **kwargs)
        file.write_text(body if body.endswith("\n") else body + "\n", encoding="utf-8")
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


# ---------------------------------------------------------------- diff


def _terminal_progress() -> Any:
    """On a terminal (stderr), a line that says which stage a long run is in, rewritten in place and cleared when
    the run ends; elsewhere (CI logs, pipes) nothing."""
    if not sys.stderr.isatty():
        return None
    click.get_current_context().call_on_close(lambda: click.echo("\r\033[K", err=True, nl=False))

    def show(stage: str) -> None:
        click.echo(f"\r\033[Kgitopsgen: {stage}…", err=True, nl=False)

    return show


def default_diff_format(output: str | None) -> str:
    """A person at a terminal reads a unified diff; CI, a file and a pipe get Markdown (the merge-request note)."""
    return "diff" if not output and not os.environ.get("CI") and sys.stdout.isatty() else "markdown"


@cli.command("diff")
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
    from . import diff as rendered

    root = _repo_root(repo)
    settings = _settings(root, clusters, kubernetes_version, offline, chart_cache, crds, mirrors)
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
    from .publish import gitlab

    target = gitlab.from_ci_environment(os.environ)
    if target is None:
        click.echo(f"gitlab note: not posted: {gitlab.ci_environment_reason(os.environ)}", err=True)
        return
    note = gitlab.upsert_note(markdown, **target)
    click.echo(f"gitlab note: {note.action} note {note.note_id}{' (truncated)' if note.truncated else ''}", err=True)


@cli.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("rule_id", required=False)
def list_rules(fmt: str, rule_id: str | None) -> None:
    """The validator's rules: ID, name, default severity and documentation."""
    from .validate.rules import catalogue

    rules = catalogue()
    selected = [rules[k] for k in sorted(rules)]
    if rule_id:
        selected = [r for r in selected if r.id == rule_id.upper() or r.name == rule_id]
        if not selected:
            raise InputError(f"no rule {rule_id} (see 'gitopsgen rules')")
    if fmt == "json":
        click.echo(json.dumps({"rules": [{**asdict(r), "severity": r.severity.value} for r in selected]}, indent=2))
        return
    for r in selected:
        click.echo(f"{r.id}  {r.name}  [{r.stage}, {r.severity.value}]")
        click.echo(f"      {r.summary}")
        if rule_id:
            click.echo("")
            click.echo(textwrap.fill(r.doc, width=100, initial_indent="      ", subsequent_indent="      "))


# ---------------------------------------------------------------- completion / build / doctor


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  gitopsgen completion bash > ~/.local/share/bash-completion/completions/gitopsgen
    zsh:   gitopsgen completion zsh > "${fpath[1]}/_gitopsgen"
    fish:  gitopsgen completion fish > ~/.config/fish/completions/gitopsgen.fish
    """
    from .completion import script

    click.echo(script(cli, shell))


@cli.command()
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
    from .validate.engine import Workspace, select_clusters
    from .validate.export import applied_by, header, kustomization_names
    from .validate.findings import Severity
    from .yamlio import dump_documents

    root = _repo_root(repo)
    settings = _settings(root, (cluster,), kubernetes_version, offline, chart_cache, crds, mirrors)
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


@cli.command()
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
    from .doctor import FAIL, run_all

    root = _repo_root(repo)
    checks_run = run_all(root, _settings(root, (), kubernetes_version, offline, chart_cache, crds, mirrors))
    for c in checks_run:
        click.echo(c.line())
    if any(c.status == FAIL for c in checks_run):
        raise click.exceptions.Exit(1)


def main() -> None:
    try:
        # click returns (not raises) the code of an Exit here; the name and variable of shell completion are fixed,
        # so the installed script works however gitopsgen was started (console script, python -m)
        code = cli.main(standalone_mode=False, prog_name="gitopsgen", complete_var="_GITOPSGEN_COMPLETE")
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("gitopsgen: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InputError as exc:
        click.echo(f"gitopsgen: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # exit 2 means "could not run"; a traceback would exit 1, like findings
        if os.environ.get("GITOPSGEN_DEBUG"):
            raise
        click.echo(
            f"gitopsgen: internal error: {type(exc).__name__}: {exc} (GITOPSGEN_DEBUG=1 for a traceback)", err=True
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
