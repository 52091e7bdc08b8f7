"""What the command families share: the repository root, the write lock, the options of the write commands
(``--repo``, ``--dry-run``, the registry login, the merge-request workflow), the sources of ``validate``/``diff``
/``build``/``doctor``, and how a plan is reported and written. Parsing and printing only."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from ..generate.tree import Plan
from ..generate.treewrite import lock


def git_top() -> str | None:
    """The work tree of the git repository holding the current directory, or None."""
    import git  # GitPython: imported where needed (a validate run with a PATH does without it)

    try:
        top = git.Repo(Path.cwd(), search_parent_directories=True).working_tree_dir
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    return str(top) if top else None


def repo_root(repo: str | None) -> Path:
    if repo is not None:
        path = Path(repo)
        if not path.is_dir():
            raise InputError(f"--repo {repo}: not a directory")
        return path.resolve()
    return Path(git_top() or Path.cwd()).resolve()


def hold_lock(root: Path) -> None:
    """Hold the repository's write lock until the command ends (planning included), so two runs cannot
    interleave and a run that was killed mid-write is rolled back before this one plans."""
    click.get_current_context().with_resource(lock(root))


def report_plan(p: Plan, wrote: str = "wrote", deleted: str = "deleted", err: bool = True) -> None:
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


def preview(p: Plan, pub: Any = None) -> None:
    """--dry-run: the unified diff on stdout, the paths on stderr; nothing is written, committed or pushed."""
    if pub is not None and pub.active:
        raise InputError("--dry-run writes nothing: it cannot take --branch, --commit, --push or --merge-request")
    click.echo(p.diff(), nl=False)
    report_plan(p, "would write", "would delete", err=True)


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


def take_publish(o: dict[str, Any]) -> Any:
    """Take the publish options out of a command's keyword arguments."""
    from ..publish.mergerequest import Publish

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


def take_login(o: dict[str, Any]) -> Any:
    """Take the registry login options out of a command's keyword arguments."""
    from ..generate.credentials import login_from_process

    return login_from_process(o.pop("registry_username"), o.pop("registry_password_stdin"))


def write_plan(root: Path, p: Plan, subject: str, pub: Any, also: tuple[str, ...] = ()) -> None:
    """Write a plan, on a branch / committed / pushed as the publish options say; report on stderr."""
    from ..publish.mergerequest import write

    done = write(root, p, subject, pub, report=report_plan, also=also)
    if done.commit:
        click.echo(f"committed {done.commit[:12]} on {done.branch}: {subject.splitlines()[0]}", err=True)
    elif pub.commits and not p.empty:
        click.echo("nothing to commit", err=True)
    if done.push is not None:
        click.echo(f"pushed {done.push.branch} to {done.push.remote} ({done.push.summary})", err=True)
        for line in done.push.remote_messages:
            click.echo(f"remote: {line}", err=True)


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


def validator_settings(
    root: Path,
    clusters: tuple[str, ...],
    kubernetes_version: str | None,
    offline: bool | None,
    chart_cache: str | None,
    crds: tuple[str, ...],
    mirrors: tuple[str, ...],
) -> Any:
    """The repository's validator settings with the command line's overrides."""
    from ..validate import config

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


def terminal_progress() -> Any:
    """On a terminal (stderr), a line that says which stage a long run is in, rewritten in place and cleared when
    the run ends; elsewhere (CI logs, pipes) nothing."""
    if not sys.stderr.isatty():
        return None
    click.get_current_context().call_on_close(lambda: click.echo("\r\033[K", err=True, nl=False))

    def show(stage: str) -> None:
        click.echo(f"\r\033[Kgitopsgen: {stage}…", err=True, nl=False)

    return show
