"""S007 credential-in-values: a credential-named key with a literal value in HelmRelease values or a ConfigMap.

Looks at the repository's own files, like S001: ``spec.values`` of every HelmRelease and ``data`` of every
ConfigMap, for keys named like a credential (``password``, ``adminPassword``, ``token``, ``apiKey``,
``clientSecret``, ``privateKey``, …) whose value is a literal, not a reference to a secret kept elsewhere
(:func:`.s001_plaintext_secret.is_reference`). Keys that name where a credential is (``existingSecret``,
``passwordSecretName``, ``tokenFile``, ``connectionStringSecretKey: connection-string``, ``githubConfigSecret:
runner-secret``) are not credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..findings import Finding, Rule, Severity, object_name
from ..model import Context, Document
from .s001_plaintext_secret import is_reference

SCOPE = "repository"  # see rules/__init__.py
RULE = Rule(
    id="S007",
    name="credential-in-values",
    stage="semantics",
    severity=Severity.WARNING,
    summary="A HelmRelease value or ConfigMap key named like a credential holds a literal value.",
    doc=(
        "A chart's password, token or API key written into a HelmRelease's spec.values (or a ConfigMap's "
        "data) is committed to Git in clear text, where everyone who can clone the repository reads it, and "
        "it ends up in a Helm release Secret or a ConfigMap anyone with read access to the namespace sees. "
        "The rule reports keys named like a credential (password, passwd, token, apiKey, secretKey, "
        "clientSecret, privateKey, secret) with a literal value, at the key. Values that refer to a secret kept "
        "elsewhere are not reported: Flux substitution variables (${VAR}), op://, ref+…, <path:…>, vault:, "
        "ENC[…] and {{ templates }}; nor are keys that name where a credential is (existingSecret, "
        "passwordSecretName, tokenFile), nor a …Secret or …Key whose value is a Kubernetes name "
        "(githubConfigSecret: runner-secret, connectionStringSecretKey: connection-string). A warning: "
        "nothing rejects it, but it is a risk (chart defaults such as a demo adminPassword are common). Give "
        "charts their credentials through valuesFrom a Secret or the chart's existingSecret."
    ),
)

_CREDENTIAL = re.compile(r"(password|passwd|token|apikey|secretkey|clientsecret|privatekey|secret)$")
_NOT_CREDENTIAL = re.compile(r"^existing|file|path|ref|name|env|enabled|length|mount|policy|type|ttl|expir")


def is_credential_key(key: str) -> bool:
    """A key that holds a credential by its name (``adminPassword``, ``api_key``), not one that names where a
    credential is (``existingSecret``, ``passwordSecretName``, ``tokenFile``)."""
    flat = re.sub(r"[-_.]", "", key.lower())
    return bool(_CREDENTIAL.search(flat)) and not _NOT_CREDENTIAL.search(flat)


def credential_values(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, key) of every credential-named key under ``node`` whose value is a literal string."""
    if isinstance(node, dict):
        for k, v in node.items():
            if (
                isinstance(v, str)
                and v.strip()
                and is_credential_key(str(k))
                and not is_reference(v)
                and not _key_name(str(k), v.strip())
            ):
                yield (*path, str(k)), str(k)
            elif isinstance(v, dict | list):
                yield from credential_values(v, (*path, str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from credential_values(v, (*path, i))


def _key_name(key: str, value: str) -> bool:
    """``…SecretKey: connection-string``, ``githubConfigSecret: runner-secret``: the value names a key inside a
    Secret, or a Secret, like a Kubernetes name does; it is not the secret."""
    return key.lower().endswith(("key", "secret")) and re.fullmatch(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*", value) is not None


def _findings(doc: Document, section: tuple[str, ...], what: str) -> Iterator[Finding]:
    node: Any = doc.data
    for key in section:
        node = node.get(key) if isinstance(node, dict) else None
    for path, _ in credential_values(node):
        dotted = ".".join(str(p) for p in path)
        yield Finding(
            file=doc.file,
            line=doc.line_of(*section, *path),
            rule=RULE.id,
            message=(
                f"{object_name(doc.data)}: {what}{dotted} is a credential committed in plaintext; take it from a "
                "Secret (valuesFrom, the chart's existingSecret, an ExternalSecret or a SOPS-encrypted Secret)"
            ),
            severity=RULE.severity,
            object=object_name(doc.data),
        )


def check(ctx: Context) -> Iterator[Finding]:
    for doc in ctx.documents:
        if not isinstance(doc.data, dict):
            continue
        kind, api = doc.data.get("kind"), str(doc.data.get("apiVersion", ""))
        if kind == "HelmRelease" and api.startswith("helm.toolkit.fluxcd.io/"):
            yield from _findings(doc, ("spec", "values"), "values.")
        elif kind == "ConfigMap" and api == "v1":
            yield from _findings(doc, ("data",), "data.")
