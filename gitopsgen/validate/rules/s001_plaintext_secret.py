"""S001 plaintext-secret: no Secret values are committed to Git in clear text.

Looks at the repository's own files (``ctx.documents``), not at cluster builds: what matters is what
sits in Git. Covers ``v1 Secret`` documents and kustomize ``secretGenerator`` entries. Values that only
refer to a secret kept elsewhere (``${VAR}``, ``op://``, ``ref+``, ``<path:…>``, ``vault:``, ``ENC[…]``,
templates) are not plaintext (:func:`is_reference`, shared with S007).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..findings import Finding, Rule, Severity, object_name
from ..model import Context, Document

SCOPE = "repository"  # see rules/__init__.py
RULE = Rule(
    id="S001",
    name="plaintext-secret",
    stage="semantics",
    severity=Severity.ERROR,
    summary="A Secret's values are committed to Git in plaintext.",
    doc=(
        "Anything committed to Git stays readable in its history by everyone who can clone the repository, "
        "and base64 in a Secret's data is an encoding, not encryption. The rule reports every v1 Secret "
        "document of the repository whose data or stringData holds a non-empty value that is not "
        "SOPS-encrypted (ENC[...]); a SOPS file whose encrypted_regex or unencrypted_suffix left some of "
        "these values in clear text is reported too. It also reports kustomize secretGenerator entries of "
        "kustomization.yaml files that take literals, or files/envs that are not SOPS-encrypted (no sops "
        "metadata and ENC[ values), since the generated Secret's content then sits in Git as well; the finding "
        "points at the generator. Values that only refer to a secret kept elsewhere are not plaintext: Flux "
        "substitution variables (${VAR}), 1Password (op://), vals (ref+…), argocd-vault-plugin (<path:…>), "
        "vault: references, SOPS ENC[…] values and {{ templates }}. Keep secrets out of Git with SOPS (and a "
        "Flux decryption provider), ExternalSecrets or SealedSecrets, and give charts their credentials "
        "through valuesFrom or the chart's existingSecret. Credentials in HelmRelease values and ConfigMaps: "
        "S007."
    ),
)

KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_SOPS_METADATA = re.compile(r'^\s*"?sops"?\s*:|^sops_[a-z_]+=|^\[sops\]', re.MULTILINE)
_MAX_READ = 1024 * 1024


def is_encrypted_value(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[")


_REFERENCE = re.compile(r"^(?:op://|ref\+|<path:|vault:|ENC\[|\{\{.*\}\}$|<[A-Za-z0-9_.-]+>$)", re.DOTALL)
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\([A-Za-z0-9_]+\)|\{\{[^}]*\}\}")


def is_reference(value: Any) -> bool:
    """Whether a value points at a secret kept elsewhere (see the module docstring) rather than holding one: a
    reference, or text whose variable part (``${DB_PASSWORD}`` in a URL) is where the secret comes from."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _REFERENCE.match(text):
        return True
    return _VARIABLE.search(text) is not None  # the secret part comes from a variable or template


def is_sops_text(text: str) -> bool:
    """Whether a file's text is SOPS-encrypted (YAML, JSON, dotenv or INI store)."""
    return "ENC[" in text and _SOPS_METADATA.search(text) is not None


def _decoded(value: Any) -> Any:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value


def plaintext_keys(values: Any, encoded: bool = False) -> list[str]:
    """Keys of a data/stringData mapping whose values are non-empty, not SOPS-encrypted and not references
    (``encoded``: base64 ``data``, decoded before it is looked at)."""
    if not isinstance(values, dict):
        return []
    return [
        str(k)
        for k, v in values.items()
        if v not in (None, "") and not is_encrypted_value(v) and not is_reference(_decoded(v) if encoded else v)
    ]


def _secret_findings(doc: Document) -> Iterator[Finding]:
    sops = isinstance(doc.data.get("sops"), dict)
    for section in ("data", "stringData"):
        keys = plaintext_keys(doc.data.get(section), encoded=section == "data")
        if not keys:
            continue
        shown = ", ".join(keys)
        if sops:
            how = "although the file is SOPS-encrypted (its encrypted_regex/suffix rules left them in clear text)"
        else:
            how = "in plaintext; encrypt it with SOPS or use an ExternalSecret or SealedSecret"
        yield Finding(
            file=doc.file,
            line=doc.line_of(section),
            rule=RULE.id,
            message=f"{object_name(doc.data)}: {section} ({shown}) is committed {how}",
            severity=RULE.severity,
            object=object_name(doc.data),
        )


def _read(ctx: Context, rel: str) -> str | None:
    """Text of a repository file named by a generator, or None when absent, outside the repository or binary."""
    if rel in ctx.texts:
        return ctx.texts[rel]
    if rel.startswith("../") or rel == ".." or PurePosixPath(rel).is_absolute():
        return None
    root = Path(ctx.root).resolve()
    path = root / rel
    try:
        path.resolve().relative_to(root)
        if not path.is_file() or path.stat().st_size > _MAX_READ:
            return None
        return path.read_bytes().decode("utf-8", errors="replace")
    except (OSError, ValueError, RuntimeError):
        return None


def _generator_sources(generator: dict[str, Any]) -> Iterator[str]:
    """File paths (as written) a secretGenerator reads: files (``[key=]path``), envs and the old env."""
    files, envs = generator.get("files"), generator.get("envs")
    for entry in files if isinstance(files, list) else []:
        if isinstance(entry, str) and entry:
            yield entry.split("=", 1)[1] if "=" in entry else entry
    for entry in envs if isinstance(envs, list) else []:
        if isinstance(entry, str) and entry:
            yield entry
    if isinstance(generator.get("env"), str) and generator["env"]:
        yield generator["env"]


def _generator_findings(ctx: Context, doc: Document) -> Iterator[Finding]:
    generators = doc.data.get("secretGenerator")
    if not isinstance(generators, list):
        return
    directory = posixpath.dirname(doc.file)
    for index, generator in enumerate(generators):
        if not isinstance(generator, dict):
            continue
        problems: list[str] = []
        literals = generator.get("literals")
        if isinstance(literals, list) and literals:
            problems.append(f"{len(literals)} literal(s)")
        for source in _generator_sources(generator):
            rel = posixpath.normpath(posixpath.join(directory, source))
            text = _read(ctx, rel)
            if text is not None and not is_sops_text(text):
                problems.append(f"unencrypted file {source}")
        if not problems:
            continue
        name = generator.get("name", f"#{index}")
        yield Finding(
            file=doc.file,
            line=doc.line_of("secretGenerator", index),
            rule=RULE.id,
            message=(
                f"secretGenerator {name} puts plaintext into Git: {', '.join(problems)}; "
                "use SOPS-encrypted files, an ExternalSecret or a SealedSecret instead"
            ),
            severity=RULE.severity,
            object=f"secretGenerator {name}",
        )


def _is_kustomization(doc: Document) -> bool:
    if PurePosixPath(doc.file).name not in KUSTOMIZATION_FILES or not isinstance(doc.data, dict):
        return False
    api = str(doc.data.get("apiVersion", "kustomize.config.k8s.io/"))
    return api.startswith("kustomize.config.k8s.io/")


def check(ctx: Context) -> Iterator[Finding]:
    for doc in ctx.documents:
        if not isinstance(doc.data, dict):
            continue
        if doc.data.get("kind") == "Secret" and doc.data.get("apiVersion") == "v1":
            yield from _secret_findings(doc)
        elif _is_kustomization(doc):
            yield from _generator_findings(ctx, doc)
