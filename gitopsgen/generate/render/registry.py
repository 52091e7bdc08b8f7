"""Namespaces and registry credentials: a dockerconfigjson pull secret in every namespace that pulls.

By default the pull secret never exists in git: an ExternalSecret (external-secrets.io/v1) per
namespace (prefect, each flow-run namespace, flux-system for image scanning) asks a
ClusterSecretStore for the username and password under one remote key and templates the
``kubernetes.io/dockerconfigjson`` Secret in the cluster. With SOPS credentials, each namespace gets
a Secret file encrypted to the cluster's age recipients instead (``EncryptedPullSecret``: rendering
only says which; :mod:`gitopsgen.generate.credentials` encrypts or keeps them), with the ``.sops.yaml``
creation rules beside them; kustomize-controller decrypts them. This component comes first in the
dependency chain, so it also owns the Namespaces the others deploy into and delivers the server's
Secrets (:mod:`gitopsgen.generate.render.secrets`) from the store.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ..intent import Fleet, Resolved
from . import secrets
from .common import (
    COMPONENT_CREDENTIALS,
    ESO_API,
    FLUX_NAMESPACE,
    PREFECT_NAMESPACE,
    PULL_SECRET,
    Files,
    Obj,
    base_dir,
    kustomization,
    namespace,
    obj,
    overlay_dir,
)

ENCRYPTED_REGEX = "^(data|stringData)$"


@dataclass(frozen=True)
class EncryptedPullSecret:
    """A pull secret written SOPS-encrypted from credentials given at run time; never rendered as plain text."""

    namespace: str
    host: str
    recipients: tuple[str, ...]

    def secret(self, username: str, password: str) -> Obj:
        """The plaintext Secret (in memory only, to be encrypted at once)."""
        auth = base64.b64encode(f"{username}:{password}".encode()).decode()
        config = {"auths": {self.host: {"username": username, "password": password, "auth": auth}}}
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": PULL_SECRET, "namespace": self.namespace},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": json.dumps(config, separators=(",", ":"))},
        }


def sops_file(namespace: str) -> str:
    return f"pull-secret-{namespace}.sops.yaml"


def sops_config(r: Resolved) -> dict[str, Any]:
    """``.sops.yaml`` beside the encrypted files: ``sops edit`` run in that directory encrypts to the same keys."""
    return {
        "creation_rules": [
            {
                "path_regex": r"pull-secret-.*\.sops\.yaml$",
                "encrypted_regex": ENCRYPTED_REGEX,
                "age": ",".join(r.age_recipients),
            }
        ]
    }


def dockerconfigjson_template(host: str) -> str:
    """An ESO v2 template for .dockerconfigjson; values are JSON-quoted, so any password is safe."""
    return (
        '{"auths":{"' + host + '":{'
        '"username":{{ .username | toJson }},'
        '"password":{{ .password | toJson }},'
        '"auth":{{ printf "%s:%s" .username .password | b64enc | toJson }}}}}'
    )


def external_secret(ns: str, host: str, store: str, remote_key: str) -> Obj:
    return obj(
        ESO_API,
        "ExternalSecret",
        PULL_SECRET,
        ns,
        {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": store},
            "target": {
                "name": PULL_SECRET,
                "creationPolicy": "Owner",
                "template": {
                    "type": "kubernetes.io/dockerconfigjson",
                    "engineVersion": "v2",
                    "data": {".dockerconfigjson": dockerconfigjson_template(host)},
                },
            },
            "data": [
                {"secretKey": "username", "remoteRef": {"key": remote_key, "property": "username"}},
                {"secretKey": "password", "remoteRef": {"key": remote_key, "property": "password"}},
            ],
        },
    )


def gitlab_token_secret(r: Resolved) -> Obj:
    """The token of the GitLab commit-status Provider, from the same store (key ``token``)."""
    settings = r.fleet.notifications
    return obj(
        ESO_API,
        "ExternalSecret",
        settings.token_secret,
        FLUX_NAMESPACE,
        {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": r.secret_store},
            "target": {"name": settings.token_secret, "creationPolicy": "Owner"},
            "data": [{"secretKey": "token", "remoteRef": {"key": settings.token_remote_key}}],
        },
    )


def pull_namespaces(r: Resolved) -> list[str]:
    """Every namespace whose pods or controllers pull from the registry."""
    return [PREFECT_NAMESPACE, *r.flow_namespaces, FLUX_NAMESPACE]


def base(fleet: Fleet) -> Files:
    d = base_dir(COMPONENT_CREDENTIALS)
    return {
        f"{d}/kustomization.yaml": [kustomization(["namespace.yaml"])],
        f"{d}/namespace.yaml": [namespace(PREFECT_NAMESPACE)],
    }


def overlay(r: Resolved) -> Files:
    d = overlay_dir(r.name, COMPONENT_CREDENTIALS)
    resources = ["../../../base/registry-credentials", "flow-run-namespaces.yaml"]
    files: Files = {f"{d}/flow-run-namespaces.yaml": [namespace(ns) for ns in r.flow_namespaces]}
    server_secrets = secrets.external_secrets(r)
    if server_secrets:  # before the server and the flow runs that read them
        files[f"{d}/server-secrets.yaml"] = server_secrets
        resources.append("server-secrets.yaml")
    if not r.sops:
        assert r.secret_store is not None
        files[f"{d}/external-secrets.yaml"] = [
            *(external_secret(ns, r.registry_host, r.secret_store, r.remote_key) for ns in pull_namespaces(r)),
            gitlab_token_secret(r),
        ]
        resources.append("external-secrets.yaml")
        files[f"{d}/kustomization.yaml"] = [kustomization(resources)]
        return files
    if r.secret_store:  # the GitLab token still comes from the store when there is one
        files[f"{d}/external-secrets.yaml"] = [gitlab_token_secret(r)]
        resources.append("external-secrets.yaml")
    for ns in pull_namespaces(r):
        files[f"{d}/{sops_file(ns)}"] = EncryptedPullSecret(ns, r.registry_host, r.age_recipients)  # type: ignore[assignment]
        resources.append(sops_file(ns))
    files[f"{d}/.sops.yaml"] = [sops_config(r)]
    files[f"{d}/kustomization.yaml"] = [kustomization(resources)]
    return files
