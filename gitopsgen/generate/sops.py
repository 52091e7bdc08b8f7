"""SOPS files for age recipients (AES256_GCM): encrypt, decrypt, and their YAML, as sops and Flux read them.

This module owns the sops file format for the one case gitopsgen needs: a Kubernetes object whose selected
leaves are ``ENC[AES256_GCM,...]`` strings, and a ``sops`` block whose data key is age-encrypted (armored) to
one or more X25519 recipients. It follows getsops/sops (``aes/cipher.go``, ``sops.go``, ``stores/``,
``age/keysource.go``) so that the real ``sops`` and Flux's kustomize-controller decrypt what it writes, and it
decrypts files the real ``sops`` wrote:

- one random 32-byte data key; AES-256-GCM with a 32-byte IV and the 16-byte tag stored apart;
- the AAD of a value is its path of mapping keys (list indexes left out) joined with ``:`` plus a trailing ``:``;
- a leaf is encrypted by the file's rule (``encrypted_regex`` is Go ``regexp.Match``, i.e. ``re.search``, on each
  key of the path; without a rule sops' default ``unencrypted_suffix: _unencrypted`` applies); ``""`` is never
  encrypted and ``null`` is skipped;
- the MAC is the upper-case hex SHA-512 over the text form of every leaf in walk order (clear ones too, unless
  ``mac_only_encrypted``), itself encrypted with AAD = ``lastmodified`` as RFC 3339.

Not supported (a :class:`SopsError` says so): PGP/KMS/Vault-only files, Shamir ``key_groups``, the
``*_comment_regex`` rules, post-quantum age identities.

Their YAML is :mod:`gitopsgen.generate.sopsyaml`, the age keys :mod:`gitopsgen.generate.agekeys`. Flux decrypts
each Kubernetes object on its own, so write one encrypted object per file (one sops block and
MAC per object).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyrage
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .agekeys import SopsError, check_recipient, identity, parse_identities

SOPS_VERSION = "3.10.2"
"""The sops version whose file layout :func:`encrypt` writes (empty key lists left out, as sops >= 3.10 does)."""

DEFAULT_ENCRYPTED_REGEX = r"^(data|stringData)$"
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_IV_SIZE = 32
_TAG_SIZE = 16
_MAC_ONLY_ENCRYPTED_INIT = hashlib.sha256(b"sops").digest()
_ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]$", re.DOTALL)
_ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
_ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
_RULE_KEYS = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
_OTHER_KEY_KINDS = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")


# --------------------------------------------------------------------------- values


def _format_float(value: float) -> str:
    """Go ``strconv.FormatFloat(value, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)).normalize(), "f")
    return text


def _to_bytes(value: Any, path: Sequence[str]) -> bytes:
    """sops ``ToBytes``: the text form of a leaf, fed to the MAC and encrypted."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return _format_float(value).encode()
    if isinstance(value, bytes):
        return value
    raise SopsError(f"cannot encrypt a {type(value).__name__} value at {_aad(path)!r} (sops has no type for it)")


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "bytes"


def _aad(path: Sequence[str]) -> str:
    return "".join(f"{part}:" for part in path)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _encrypt_value(value: Any, key: bytes, aad: str, path: Sequence[str]) -> Any:
    if value == "" and isinstance(value, str):
        return ""
    plain = _to_bytes(value, path)
    iv = os.urandom(_IV_SIZE)
    sealed = AESGCM(key).encrypt(iv, plain, aad.encode("utf-8"))
    data, tag = sealed[:-_TAG_SIZE], sealed[-_TAG_SIZE:]
    return f"ENC[AES256_GCM,data:{_b64(data)},iv:{_b64(iv)},tag:{_b64(tag)},type:{_type_of(value)}]"


def _parse_bool(text: str) -> bool:
    """Go ``strconv.ParseBool``."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(text)


def _decrypt_value(value: str, key: bytes, aad: str, what: str) -> tuple[Any, bytes]:
    """The typed value and its plaintext bytes; ``""`` stays ``""``."""
    if value == "":
        return "", b""
    match = _ENC_RE.match(value)
    if match is None:
        raise SopsError(f"{what} should be encrypted but is not an ENC[AES256_GCM,…] value")
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.group(1, 2, 3))
    except (binascii.Error, ValueError):
        raise SopsError(f"{what}: malformed base64 in its ENC[…] value") from None
    kind = match.group(4)
    try:
        plain = AESGCM(key).decrypt(iv, data + tag, aad.encode("utf-8"))
    except (InvalidTag, ValueError):
        raise SopsError(f"cannot decrypt {what}: the value, its path or the data key does not match") from None
    try:
        if kind == "str":
            return plain.decode("utf-8"), plain
        if kind == "int":
            return int(plain.decode("ascii"), 10), plain
        if kind == "float":
            return float(plain.decode("ascii")), plain
        if kind == "bool":
            return _parse_bool(plain.decode("ascii")), plain
        if kind == "bytes":
            return plain, plain
        if kind == "time":
            return datetime.fromisoformat(plain.decode("ascii")), plain
    except ValueError:
        raise SopsError(f"{what}: decrypted value is not a valid {kind}") from None
    raise SopsError(f"{what}: unknown sops value type {kind!r}")


# --------------------------------------------------------------------------- rules and walk


@dataclass(frozen=True)
class _Rules:
    """Which leaves a file encrypts (sops ``Metadata.shouldBeEncrypted``, comment rules left out)."""

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: re.Pattern[str] | None = None
    encrypted_regex: re.Pattern[str] | None = None

    def encrypts(self, path: Sequence[str]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex is not None and any(self.unencrypted_regex.search(p) for p in path):
            encrypted = False
        if self.encrypted_regex is not None:
            encrypted = any(self.encrypted_regex.search(p) for p in path)
        return encrypted


def _compile(pattern: Any, name: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise SopsError(f"sops.{name} must be a string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise SopsError(f"sops.{name} {pattern!r} is not a valid regular expression: {exc}") from None


def _rules_of(meta: Mapping[str, Any]) -> _Rules:
    present = [name for name in _RULE_KEYS if meta.get(name)]
    if len(present) > 1:
        raise SopsError(f"sops metadata sets more than one encryption rule: {', '.join(present)}")
    if not present:
        return _Rules(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)
    name = present[0]
    value = meta[name]
    if name.endswith("comment_regex"):
        raise SopsError(f"sops.{name} is not supported (gitopsgen does not keep YAML comments)")
    if name == "unencrypted_suffix":
        return _Rules(unencrypted_suffix=str(value))
    if name == "encrypted_suffix":
        return _Rules(encrypted_suffix=str(value))
    if name == "unencrypted_regex":
        return _Rules(unencrypted_regex=_compile(value, name))
    return _Rules(encrypted_regex=_compile(value, name))


Leaf = Callable[[Any, list[str]], Any]


def _walk(value: Any, path: list[str], leaf: Leaf) -> Any:
    """A new tree with every non-null leaf replaced by ``leaf(value, path)``, in document order."""
    if isinstance(value, Mapping):
        return {key: _walk(item, [*path, str(key)], leaf) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, path, leaf) for item in value]
    if value is None:
        return None
    return leaf(value, path)


# --------------------------------------------------------------------------- lastmodified


def _rfc3339(moment: datetime) -> str:
    """Go ``Time.Format(time.RFC3339)``: seconds, ``Z`` for a zero offset, else ``±hh:mm``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    assert offset is not None
    text = moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return text + "Z"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{text}{sign}{hours:02d}:{mins:02d}"


def _lastmodified_aad(value: Any) -> str:
    if isinstance(value, datetime):
        return _rfc3339(value)
    if not isinstance(value, str):
        raise SopsError("sops.lastmodified is missing or not a timestamp")
    try:
        return _rfc3339(datetime.fromisoformat(value))
    except ValueError:
        raise SopsError(f"sops.lastmodified {value!r} is not an RFC 3339 timestamp") from None


# --------------------------------------------------------------------------- encrypt / decrypt


def is_encrypted(obj: Any) -> bool:
    """True if ``obj`` carries sops metadata (a ``sops`` mapping with ``mac`` or ``lastmodified``)."""
    if not isinstance(obj, Mapping):
        return False
    meta = obj.get("sops")
    return isinstance(meta, Mapping) and ("mac" in meta or "lastmodified" in meta)


def recipients(obj: Mapping[str, Any]) -> list[str]:
    """The age recipients an encrypted object's data key is encrypted to."""
    if not is_encrypted(obj):
        raise SopsError("not a sops-encrypted object (no sops metadata)")
    entries = obj["sops"].get("age") or []
    return [str(entry["recipient"]) for entry in entries if isinstance(entry, Mapping) and "recipient" in entry]


def _armored(data_key: bytes, recipient: str) -> str:
    sealed: bytes = pyrage.encrypt(data_key, [pyrage.x25519.Recipient.from_str(recipient)], armored=True)
    return sealed.decode("ascii")


def encrypt(
    obj: Mapping[str, Any],
    recipients: Sequence[str],
    *,
    encrypted_regex: str | None = DEFAULT_ENCRYPTED_REGEX,
    mac_only_encrypted: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new object: the leaves selected by ``encrypted_regex`` encrypted, plus the ``sops`` block.

    ``encrypted_regex=None`` encrypts every leaf but those under a key ending in ``_unencrypted`` (sops' default
    rule, written as ``unencrypted_suffix``). ``mac_only_encrypted`` (sops >= 3.10) leaves the clear-text leaves
    out of the MAC, so that kustomize may change them. The data key and every IV are fresh random bytes.
    """
    if not isinstance(obj, Mapping):
        raise SopsError("only a mapping can be sops-encrypted")
    if "sops" in obj:
        raise SopsError("the object already has a sops key (already encrypted?)")
    keys = list(dict.fromkeys(check_recipient(r) for r in recipients))
    if not keys:
        raise SopsError("at least one age recipient is needed to encrypt")
    rules = (
        _Rules(encrypted_regex=_compile(encrypted_regex, "encrypted_regex"))
        if encrypted_regex is not None
        else _Rules(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)
    )
    lastmodified = _rfc3339((now or datetime.now(UTC)).astimezone(UTC))
    data_key = os.urandom(32)
    mac = hashlib.sha512()
    if mac_only_encrypted:
        mac.update(_MAC_ONLY_ENCRYPTED_INIT)

    def leaf(value: Any, path: list[str]) -> Any:
        encrypted = rules.encrypts(path)
        plain = _to_bytes(value, path)
        if encrypted or not mac_only_encrypted:
            mac.update(plain)
        return _encrypt_value(value, data_key, _aad(path), path) if encrypted else copy.deepcopy(value)

    out: dict[str, Any] = _walk(obj, [], leaf)
    meta: dict[str, Any] = {
        "age": [{"recipient": r, "enc": _armored(data_key, r)} for r in keys],
        "lastmodified": lastmodified,
        "mac": _encrypt_value(mac.hexdigest().upper(), data_key, lastmodified, ["sops", "mac"]),
    }
    if encrypted_regex is not None:
        meta["encrypted_regex"] = encrypted_regex
    else:
        meta["unencrypted_suffix"] = DEFAULT_UNENCRYPTED_SUFFIX
    if mac_only_encrypted:
        meta["mac_only_encrypted"] = True
    meta["version"] = SOPS_VERSION
    out["sops"] = meta
    return out


def _data_key(meta: Mapping[str, Any], identities: Sequence[str]) -> bytes:
    if meta.get("key_groups"):
        raise SopsError("sops files with key_groups (Shamir secret sharing) are not supported")
    entries = [e for e in (meta.get("age") or []) if isinstance(e, Mapping)]
    if not entries:
        others = [kind for kind in _OTHER_KEY_KINDS if meta.get(kind)]
        kinds = ", ".join(others) if others else "no key at all"
        raise SopsError(f"this sops file has no age recipient ({kinds}); only age is supported")
    if isinstance(identities, str):
        identities = parse_identities(identities)
    parsed = [identity(text.strip(), "age identity") for text in identities]
    if not parsed:
        raise SopsError("no age identity given to decrypt with (set SOPS_AGE_KEY_FILE or pass a key file)")
    for entry in entries:
        enc = entry.get("enc")
        if not isinstance(enc, str) or not enc.strip().startswith(_ARMOR_BEGIN):
            raise SopsError(f"age recipient {entry.get('recipient')}: enc is not an armored age file")
        try:
            key: bytes = pyrage.decrypt(enc.strip().encode("ascii") + b"\n", parsed)
        except (pyrage.DecryptError, UnicodeEncodeError):
            continue
        if len(key) != 32:
            raise SopsError(f"age recipient {entry.get('recipient')}: data key is {len(key)} bytes, not 32")
        return key
    names = ", ".join(str(e.get("recipient")) for e in entries)
    raise SopsError(f"none of the given age identities can decrypt this file (recipients: {names})")


def decrypt(obj: Mapping[str, Any], identities: Sequence[str]) -> dict[str, Any]:
    """The plaintext of an encrypted object, without its ``sops`` block, after checking its MAC."""
    if not is_encrypted(obj):
        raise SopsError("not a sops-encrypted object (no sops metadata)")
    meta = obj["sops"]
    rules = _rules_of(meta)
    mac_only = meta.get("mac_only_encrypted") is True
    key = _data_key(meta, identities)
    mac = hashlib.sha512()
    if mac_only:
        mac.update(_MAC_ONLY_ENCRYPTED_INIT)

    def leaf(value: Any, path: list[str]) -> Any:
        encrypted = rules.encrypts(path)
        if encrypted:
            if not isinstance(value, str):
                raise SopsError(f"value at {_aad(path)!r} should be encrypted but is a {type(value).__name__}")
            result, plain = _decrypt_value(value, key, _aad(path), f"value at {_aad(path)!r}")
            if not isinstance(result, datetime):
                plain = _to_bytes(result, path)
        else:
            result = copy.deepcopy(value)
            plain = _to_bytes(value, path)
        if encrypted or not mac_only:
            mac.update(plain)
        return result

    body = {k: v for k, v in obj.items() if k != "sops"}
    out: dict[str, Any] = _walk(body, [], leaf)
    stored = meta.get("mac")
    if not isinstance(stored, str) or not stored:
        raise SopsError("MAC mismatch: the file has no MAC")
    aad = _lastmodified_aad(meta.get("lastmodified"))
    match = _ENC_RE.match(stored)
    if match is None:
        raise SopsError("MAC mismatch: sops.mac is not an ENC[AES256_GCM,…] value")
    try:
        file_mac, _ = _decrypt_value(stored, key, aad, "sops.mac")
    except SopsError:
        raise SopsError("MAC mismatch: sops.mac does not decrypt (mac or lastmodified changed)") from None
    if file_mac != mac.hexdigest().upper():
        raise SopsError("MAC mismatch: the file was changed after it was encrypted")
    return out
