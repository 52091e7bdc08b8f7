"""What ``gitopsgen init`` needs, and where it finds it before asking: the git URL from the repository's ``origin``
remote, the branch from the repository's current branch. The registry is optional (without one the clusters pull
public images and have no pull secrets); with one, its credentials reach the clusters from a ClusterSecretStore or
SOPS with age recipients. Whatever is still missing is asked for on a terminal (the optional settings too, an
empty answer leaving them out), or listed all at once in one error; :func:`notes` says once what a fleet without
a registry or a store leaves to the user."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError

# option → (key in the command's options, what it is)
REQUIRED = {
    "--git-url": ("git_url", "URL Flux clones this repository from"),
}
REGISTRY = ("--registry", "registry_host", "container registry host of private images; empty: public images only")
STORE = ("--secret-store", "secret_store", "ClusterSecretStore holding the registry credentials")
OPTIONAL_STORE = (
    "--secret-store",
    "secret_store",
    "ClusterSecretStore for the GitLab token and the server's Secrets; empty: you create them",
)


def repository_defaults(root: Path) -> dict[str, str]:
    """``git_url`` from the ``origin`` remote (or the only remote), ``branch`` from the current branch."""
    import git

    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {}
    found: dict[str, str] = {}
    remotes = {r.name: r for r in repo.remotes}
    remote = remotes.get("origin") or (next(iter(remotes.values())) if len(remotes) == 1 else None)
    if remote is not None:
        urls = list(remote.urls)
        if urls:
            found["git_url"] = urls[0]
    try:
        found["branch"] = repo.git.symbolic_ref("--short", "HEAD")  # also on an unborn branch
    except git.GitCommandError:
        pass  # a detached HEAD: the default branch name stays
    return found


def missing(opts: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(option, key, what) of every setting init still lacks."""
    out = [(option, key, what) for option, (key, what) in REQUIRED.items() if not opts.get(key)]
    if not opts.get("registry_host"):
        if opts.get("registry_credentials") == "sops":
            out.append(("--registry", "registry_host", "container registry host of the SOPS pull secrets"))
        return out
    sops = opts.get("registry_credentials") == "sops"
    if sops and not opts.get("age_recipient"):
        out.append(("--age-recipient", "age_recipient", "age recipient of the SOPS-encrypted pull secrets"))
    if not sops and not opts.get(STORE[1]):
        out.append(STORE)
    return out


def complete(opts: dict[str, Any], ask: Callable[[str, str, bool], str] | None) -> dict[str, Any]:
    """``opts`` with every missing setting asked for (``ask(option, what, optional)``; an optional one may be
    answered empty), or one error listing them all."""
    if ask is not None:
        done = dict(opts)

        def answer(setting: tuple[str, str, str], is_optional: bool) -> None:
            option, key, what = setting
            value = ask(option, what, is_optional).strip()
            done[key] = ((value,) if key == "age_recipient" else value) if value else None

        for setting in missing(done):
            answer(setting, False)
        if not done.get("registry_host") and done.get("registry_credentials") != "sops":
            answer(REGISTRY, True)
            if not done.get("registry_host") and not done.get(STORE[1]):
                answer(OPTIONAL_STORE, True)
        for setting in missing(done):  # what the registry just named needs (a store, or SOPS recipients)
            answer(setting, False)
        opts = done
    lacking = missing(opts)
    if not lacking:
        return opts
    listed = "; ".join(f"{option} ({what})" for option, _, what in lacking)
    sops = " (with SOPS instead of a secret store: --registry-credentials sops --age-recipient age1…)"
    raise InputError(f"init needs {listed}{sops if any(o == STORE[0] for o, _, _ in lacking) else ''}")


def notes(opts: dict[str, Any]) -> list[str]:
    """What a fleet without a registry or a secret store leaves to the user, said once by init."""
    out = []
    if not opts.get("registry_host"):
        out.append(
            "no --registry: the clusters pull public images (prefecthq/prefect, the charts' Redis) with no pull "
            "secrets; set registry.host and registry.secretStore in gitopsgen.yaml later for private images"
        )
    if not opts.get("secret_store") and opts.get("registry_credentials") != "sops":
        out.append(
            "no --secret-store: create the GitLab token Secret flux-system/gitlab-token (key token) on each cluster, "
            "and the Secrets a cluster's server reads (add-cluster lists them)"
        )
    return out
