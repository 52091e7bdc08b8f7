"""What ``gitopsgen init`` needs, and where it finds it before asking: the git URL from the repository's ``origin``
remote, the branch from the repository's current branch; the registry and how its credentials reach the clusters
(a ClusterSecretStore, or SOPS with age recipients) from the user. Whatever is still missing is asked for on a
terminal, or listed all at once in one error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError

# option → (key in the command's options, what it is)
REQUIRED = {
    "--git-url": ("git_url", "URL Flux clones this repository from"),
    "--registry": ("registry_host", "container registry host the clusters pull images from"),
}
STORE = ("--secret-store", "secret_store", "ClusterSecretStore holding the registry credentials")


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
    sops = opts.get("registry_credentials") == "sops"
    if sops and not opts.get("age_recipient"):
        out.append(("--age-recipient", "age_recipient", "age recipient of the SOPS-encrypted pull secrets"))
    if not sops and not opts.get(STORE[1]):
        out.append(STORE)
    return out


def complete(opts: dict[str, Any], ask: Callable[[str, str], str] | None) -> dict[str, Any]:
    """``opts`` with every missing setting asked for (``ask(option, what)``), or one error listing them all."""
    lacking = missing(opts)
    if not lacking:
        return opts
    if ask is None:
        listed = "; ".join(f"{option} ({what})" for option, _, what in lacking)
        sops = "--registry-credentials sops --age-recipient age1…"
        raise InputError(f"init needs {listed}; with SOPS instead of a secret store: {sops}")
    done = dict(opts)
    for option, key, what in lacking:
        value = ask(option, what).strip()
        done[key] = (value,) if key == "age_recipient" else value
    return complete(done, None)
