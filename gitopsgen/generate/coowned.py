"""Values co-owned with Flux image automation: the scalars behind a setter marker.

A value followed by ``# {"$imagepolicy": "NS:POLICY[:tag]"}`` belongs to Flux once written: its
ImageUpdateAutomation commits newer tags there. :func:`keep` carries such a value from the file on
disk into a freshly rendered text when it still satisfies the policy (the policy's repository and
tag pattern, its semver range) and is not older than what the intent renders, so ``generate`` never
reverts a bump and ``generate --check`` does not call it drift. :func:`same` compares a co-owned file
by content (documents and markers), not by layout: Flux's YAML writer may lay a file out differently.

Pure functions over texts; the caller reads the file on disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ..semver import Constraint, Version

# a rendered line carrying a marker: indentation, key, double-quoted value, the marker comment
_MARKED_LINE = re.compile(
    r'^(?P<head>\s*(?P<key>[A-Za-z0-9_.-]+): )"(?P<value>[^"\\]*)"(?P<tail>\s*#\s*(?P<marker>\{.*\}))\s*$'
)
_ANY_MARKER = re.compile(r'^\s*(?:-\s+)?(?P<key>[^\s:#][^:#]*?):\s.*#\s*(?P<marker>\{\s*"\$imagepolicy"\s*:.*\})\s*$')
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


@dataclass(frozen=True)
class Policy:
    """What an ImagePolicy accepts, as far as the value behind its marker shows it."""

    semver_range: str
    repository: str | None = None  # marker without ':tag': the value is REPOSITORY:TAG
    tag_pattern: str | None = None  # ImagePolicy filterTags: the version is the group named "version"

    def version(self, value: str) -> Version | None:
        """The version a value stands for, or None when this policy could not have written it."""
        tag = value
        if self.repository is not None:
            repository, sep, tag = value.rpartition(":")
            if not sep or repository != self.repository:
                return None
        if self.tag_pattern is not None:
            m = re.match(self.tag_pattern, tag)
            if not m:
                return None
            tag = m.group("version")
        return Version.parse(tag)

    def admits(self, value: str) -> bool:
        v = self.version(value)
        try:
            return v is not None and Constraint(self.semver_range).allows(v)
        except ValueError:
            return False


def policy_name(marker: str) -> str | None:
    """``{"$imagepolicy": "flux-system:flow-etl:tag"}`` → ``flow-etl``."""
    try:
        ref = json.loads(marker).get("$imagepolicy")
    except (ValueError, AttributeError):
        return None
    parts = str(ref).split(":")
    return parts[1] if len(parts) >= 2 else None


def markers(text: str) -> dict[str, str]:
    """Key → normalised marker JSON of every marked line (how Flux finds what to update)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _ANY_MARKER.match(line)
        if m:
            try:
                out[m["key"].strip().strip("\"'")] = json.dumps(json.loads(m["marker"]), sort_keys=True)
            except ValueError:
                continue
    return out


def _scalars(text: str) -> dict[str, Any]:
    """Key → value of every scalar in the documents (keys of marked values are unique in a generated file)."""
    out: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict | list):
                    walk(value)
                else:
                    out.setdefault(str(key), value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    try:
        for doc in yaml.safe_load_all(text):
            walk(doc)
    except yaml.YAMLError:
        return {}
    return out


def _documents(text: str) -> list[Any] | None:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return None


def keep(rendered: str, current: str | None, policies: dict[str, Policy], override: Iterable[str] = ()) -> str:
    """``rendered`` with each marked value replaced by the one in ``current`` where that one is co-owned:
    it satisfies its policy and is not older than the rendered value. Policies in ``override`` are not
    kept (``upgrade`` moves them on purpose); values ``current`` lacks or that fail are rendered anew."""
    if current is None:
        return rendered
    on_disk = _scalars(current)
    disk_markers = markers(current)
    skip = set(override)
    lines = rendered.splitlines(keepends=True)
    for index, line in enumerate(lines):
        m = _MARKED_LINE.match(line.rstrip("\n"))
        if not m:
            continue
        name = policy_name(m["marker"])
        policy = policies.get(name or "")
        value = on_disk.get(m["key"])
        if policy is None or name in skip or not isinstance(value, str) or value == m["value"]:
            continue
        if disk_markers.get(m["key"]) != json.dumps(json.loads(m["marker"]), sort_keys=True):
            continue  # not behind the same marker on disk: Flux did not write it
        new, old = policy.version(value), policy.version(m["value"])
        if not _SAFE_VALUE.match(value) or not policy.admits(value) or new is None:
            continue
        if old is not None and new < old:
            continue  # the intent moved past it: the intent wins
        lines[index] = f'{m["head"]}"{value}"{m["tail"]}' + ("\n" if line.endswith("\n") else "")
    return "".join(lines)


def moved_back(rendered: str, current: str | None, policies: dict[str, Policy]) -> list[tuple[str, str, str]]:
    """(key, value on disk, rendered value) of each marked value ``rendered`` sets older than the one on disk
    (what an ``upgrade`` that overrides image automation's newer tag does)."""
    if current is None:
        return []
    on_disk = _scalars(current)
    out: list[tuple[str, str, str]] = []
    for line in rendered.splitlines():
        m = _MARKED_LINE.match(line)
        policy = policies.get(policy_name(m["marker"]) or "") if m else None
        if m is None or policy is None or not isinstance(on_disk.get(m["key"]), str):
            continue
        old, new = policy.version(on_disk[m["key"]]), policy.version(m["value"])
        if old is not None and new is not None and new < old:
            out.append((m["key"], on_disk[m["key"]], m["value"]))
    return out


def same(rendered: str, current: str | None) -> bool:
    """True when ``current`` holds the documents of ``rendered`` behind the same markers, whatever its layout."""
    if current is None:
        return False
    a, b = _documents(rendered), _documents(current)
    return a is not None and a == b and markers(rendered) == markers(current)


__all__ = ["Policy", "keep", "markers", "moved_back", "policy_name", "same"]
