"""What the loader reads of a file before parsing it: the bounds on size, nesting and alias expansion
(:class:`Limits`), and a file's bytes as strict UTF-8 text — or the finding saying why not (Y001 not
readable or not UTF-8 text, Y003 above the size bound). A leaf: the loader and the parse cache both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .findings import Finding, Rule, Severity

Y001 = Rule(
    "Y001",
    "yaml-syntax",
    "yaml",
    Severity.ERROR,
    "A YAML file does not parse (or is not UTF-8 text).",
    "kustomize, Flux and the API server all refuse a manifest that is not valid YAML, and kustomize-controller "
    "fails the whole Kustomization when one file of its path does not parse. The finding gives the line and "
    "column where the parser stopped. Files that are not UTF-8 (binary files, Latin-1 text) are reported here "
    "too, at the line of the first undecodable byte.",
)
Y003 = Rule(
    "Y003",
    "yaml-limits",
    "yaml",
    Severity.ERROR,
    "A YAML file exceeds the validator's size, nesting or alias-expansion bounds.",
    "A manifest repository is input from anyone who can open a merge request. Files larger than the size bound, "
    "documents nested deeper than the depth bound and documents whose aliases expand to more nodes than the "
    "expansion bound (the 'billion laughs' attack) are not parsed further: they would make every YAML consumer, "
    "including kustomize and the API server, slow or unusable. No real Kubernetes manifest comes near the "
    "bounds.",
)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 8 * 1024 * 1024
    max_depth: int = 100
    max_nodes: int = 2_000_000  # per document, counting every alias as the copy it expands to


DEFAULT_LIMITS = Limits()


def read_text(root: Path, rel: str, limits: Limits) -> tuple[bytes, str, Finding | None]:
    """The bytes and text of file ``rel`` under ``root``, or a finding (Y003 above the size bound, Y001 not
    readable or not UTF-8 text); never raises."""
    path = root / rel
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            msg = f"file is {size} bytes, above the {limits.max_file_bytes}-byte bound; not parsed"
            return b"", "", Finding(rel, 1, Y003.id, msg)
        raw = path.read_bytes()
    except OSError as exc:
        return b"", "", Finding(rel, 0, Y001.id, f"cannot read: {exc.strerror or exc}")
    text, problem = decode(raw, rel)
    return raw, text, problem


def decode(raw: bytes, rel: str) -> tuple[str, Finding | None]:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return "", Finding(rel, line, Y001.id, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", column=column)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        return "", Finding(rel, line, Y001.id, "binary file (NUL byte) with a YAML name")
    return text, None
