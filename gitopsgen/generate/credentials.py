"""SOPS registry credentials: the login read at run time, and the encrypted pull-secret files it seals.

The password comes from ``GITOPSGEN_REGISTRY_PASSWORD`` or standard input, never from a
command-line argument (it would show in ``ps`` and shell history), and is encrypted in memory: the
only bytes written are SOPS ciphertext. Without a login, an existing encrypted file is kept as it is
when it still fits the intent (a SOPS-encrypted Secret of the right name and namespace, for the same
registry, to exactly the intent's age recipients, with no clear value); anything else is refused
with what to do, so ``generate`` never silently drops or replaces a credential it cannot rebuild.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InputError
from ..yamlio import no_yaml_aliases
from . import sops, sopsyaml
from .render.common import PULL_SECRET
from .render.registry import ENCRYPTED_REGEX, EncryptedPullSecret

USERNAME_VARIABLE = "GITOPSGEN_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "GITOPSGEN_REGISTRY_PASSWORD"
REGISTRY_ANNOTATION = "gitopsgen.io/registry"  # in clear text (and under the MAC): which registry it logs in to


@dataclass(frozen=True)
class RegistryLogin:
    username: str
    password: str = field(repr=False)
    host: str | None = None  # the registry it logs in to; None: whichever the one cluster being written uses


def login_from(
    env: Mapping[str, str], username: str | None = None, password_stdin: IO[str] | None = None
) -> RegistryLogin | None:
    """The registry login from the options and environment; None when no password was given."""
    password = None
    if password_stdin is not None:
        password = password_stdin.read().removesuffix("\n").removesuffix("\r")
        if not password:
            raise InputError("--registry-password-stdin: standard input is empty")
    elif env.get(PASSWORD_VARIABLE):
        password = env[PASSWORD_VARIABLE]
    user = username or env.get(USERNAME_VARIABLE)
    if password is None:
        if username:
            raise InputError(f"--registry-username needs a password: {PASSWORD_VARIABLE} or --registry-password-stdin")
        return None
    if not user:
        raise InputError(f"a registry password needs a username: --registry-username or {USERNAME_VARIABLE}")
    if any(c in user for c in "\n\r:"):
        raise InputError("the registry username may not contain ':' or line breaks")
    return RegistryLogin(user, password)


def login_from_process(username: str | None, password_stdin: bool) -> RegistryLogin | None:
    return login_from(os.environ, username, sys.stdin if password_stdin else None)


def seal(root: Path, files: dict[str, Any], login: RegistryLogin | None) -> dict[str, str]:
    """Every ``EncryptedPullSecret`` of ``files`` as SOPS text: encrypted from ``login`` when it is given for
    that registry, else the file already in the repository when it still fits (see the module docstring)."""
    out: dict[str, str] = {}
    for rel, value in files.items():
        if not isinstance(value, EncryptedPullSecret):
            out[rel] = value
        elif login is not None and login.host in (None, value.host):
            out[rel] = encrypt(value, login)
        else:
            out[rel] = keep(root, rel, value)
    return out


def encrypt(value: EncryptedPullSecret, login: RegistryLogin) -> str:
    secret = value.secret(login.username, login.password)
    secret["metadata"]["annotations"] = {REGISTRY_ANNOTATION: value.host}
    # keys sorted at every level: kustomize and kustomize-controller hand the object to sops in that order,
    # so the MAC also holds where Flux verifies it
    return sopsyaml.dump(sops.encrypt(_sorted(secret), list(value.recipients), encrypted_regex=ENCRYPTED_REGEX))


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def keep(root: Path, rel: str, value: EncryptedPullSecret) -> str:
    """The encrypted file on disk when it still fits ``value``; else an InputError saying what to do."""
    hint = (
        f"give the registry login to (re)write it: {USERNAME_VARIABLE} and {PASSWORD_VARIABLE} "
        "(or --registry-username and --registry-password-stdin)"
    )
    path = root / rel
    if not path.is_file():
        raise InputError(f"{rel}: the encrypted pull secret is missing; {hint}")
    try:
        text = path.read_text(encoding="utf-8")
        no_yaml_aliases(text, rel)
        docs = sopsyaml.load(text)  # its errors name the line, never the content (it could be a password)
    except UnicodeDecodeError:
        raise InputError(f"{rel}: not UTF-8 text; {hint}") from None
    except OSError as exc:
        raise InputError(f"{rel}: cannot read ({exc.strerror}); {hint}") from None
    except InputError as exc:
        raise InputError(f"{rel}: not a SOPS file: {exc}; {hint}") from None
    problem = _misfit(docs, value)
    if problem:
        raise InputError(f"{rel}: {problem}; {hint}")
    return text


def _misfit(docs: list[Any], value: EncryptedPullSecret) -> str:
    if len(docs) != 1 or not isinstance(docs[0], dict):
        return "expected one Secret document"
    doc = docs[0]
    meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    if doc.get("kind") != "Secret" or meta.get("name") != PULL_SECRET or meta.get("namespace") != value.namespace:
        return f"expected Secret {value.namespace}/{PULL_SECRET}"
    for field_name in ("data", "stringData"):
        if doc.get(field_name) is not None and not isinstance(doc.get(field_name), dict):
            return f"{field_name} is not a mapping of encrypted values"
    clear = [
        f"{field_name}.{key}"
        for field_name in ("data", "stringData")
        for key, v in (doc.get(field_name) or {}).items()
        if not (isinstance(v, str) and v.startswith("ENC[AES256_GCM,"))
    ]
    if clear:
        return f"{', '.join(clear)} is not encrypted (a plaintext credential must never be committed)"
    if not sops.is_encrypted(doc):
        return "no sops metadata"
    if (doc.get("sops") or {}).get("encrypted_regex") != ENCRYPTED_REGEX:
        return f"not encrypted with encrypted_regex {ENCRYPTED_REGEX}"
    annotations: dict[str, Any] = meta["annotations"] if isinstance(meta.get("annotations"), dict) else {}
    if annotations.get(REGISTRY_ANNOTATION) != value.host:
        return f"it logs in to {annotations.get(REGISTRY_ANNOTATION) or 'an unknown registry'}, not {value.host}"
    have, want = sorted(set(sops.recipients(doc))), sorted(set(value.recipients))
    if have != want:
        return f"encrypted to {', '.join(have) or 'no age recipient'}, not to {', '.join(want)}"
    return ""
