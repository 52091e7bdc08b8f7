"""age keys for SOPS files: recipients (``age1…``, X25519) and identities (``AGE-SECRET-KEY-1…``), read from text,
from key files, or where sops looks for them (``SOPS_AGE_KEY``, ``SOPS_AGE_KEY_FILE``, the user's
``sops/age/keys.txt``). :class:`SopsError` is the one error of gitopsgen's SOPS support."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyrage

from gitopsgen.errors import InputError


class SopsError(InputError):
    """A sops file, key or recipient that cannot be used; the message is one line and never holds a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def check_recipient(text: str) -> str:
    """``text`` as a valid age X25519 recipient (``age1…``), surrounding whitespace removed."""
    value = text.strip() if isinstance(text, str) else ""
    if value.startswith("age1pq1"):
        raise SopsError(f"post-quantum age recipient {value[:16]}… is not supported (use an X25519 age1… key)")
    if not value.startswith("age1"):
        raise SopsError(f"not an age recipient: {text!r} (expected age1…)")
    try:
        pyrage.x25519.Recipient.from_str(value)
    except pyrage.RecipientError as exc:
        raise SopsError(f"not a valid age X25519 recipient: {text!r} ({exc})") from None
    return value


def identity(text: str, where: str) -> pyrage.x25519.Identity:
    if text.startswith("AGE-SECRET-KEY-PQ-"):
        raise SopsError(f"{where}: post-quantum age identities are not supported")
    if not text.startswith("AGE-SECRET-KEY-1"):
        raise SopsError(f"{where}: not an age identity (expected AGE-SECRET-KEY-1…)")
    try:
        return pyrage.x25519.Identity.from_str(text)
    except pyrage.IdentityError:
        raise SopsError(f"{where}: not a valid age identity (AGE-SECRET-KEY-1…)") from None


def parse_identities(text: str, *, source: str = "age key") -> list[str]:
    """The ``AGE-SECRET-KEY-1…`` identities of an age key file; ``#`` comments and blank lines are skipped.

    Like age's ``ParseIdentities``, any other line is an error (named by its line number, never its text).
    """
    found: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        identity(line, f"{source} line {number}")
        found.append(line)
    if not found:
        raise SopsError(f"{source}: no age identity (AGE-SECRET-KEY-1…) found")
    return found


def load_identities(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The identities of the age key files at ``paths``, in order."""
    found: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SopsError(f"cannot read age key file {os.fspath(path)}: {exc.__class__.__name__}") from None
        found.extend(parse_identities(text, source=os.fspath(path)))
    return found


def _user_config_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"])
    home = Path(environ.get("HOME") or Path.home())
    if os.uname().sysname == "Darwin":
        return home / "Library" / "Application Support"
    return home / ".config"


def identities_from_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """The identities sops would use: ``SOPS_AGE_KEY``, the file ``SOPS_AGE_KEY_FILE``, then the user's
    ``sops/age/keys.txt`` (under ``$XDG_CONFIG_HOME`` or ``~/.config``) when it exists. May be empty."""
    env = os.environ if environ is None else environ
    found: list[str] = []
    if env.get("SOPS_AGE_KEY"):
        found.extend(parse_identities(env["SOPS_AGE_KEY"], source="SOPS_AGE_KEY"))
    if env.get("SOPS_AGE_KEY_FILE"):
        found.extend(load_identities([env["SOPS_AGE_KEY_FILE"]]))
    default = _user_config_dir(env) / "sops" / "age" / "keys.txt"
    if default.is_file():
        found.extend(load_identities([default]))
    return list(dict.fromkeys(found))
