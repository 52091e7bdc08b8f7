"""The lock files: every range in pyproject.toml is met by the pinned version, the two locks agree, and every
pin carries hashes (pip's --require-hashes mode, which scripts/setup.sh and the GitLab jobs use)."""

from __future__ import annotations

import re
import tomllib

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def pins(name: str) -> dict[str, tuple[str, bool]]:
    """Package → (version, has a hash) of one lock file."""
    out: dict[str, tuple[str, bool]] = {}
    current = ""
    for line in (ROOT / name).read_text().splitlines():
        m = PIN.match(line)
        if m:
            current = canonicalize_name(m.group(1))
            out[current] = (m.group(2), False)
        elif line.strip().startswith("--hash=sha256:") and current:
            out[current] = (out[current][0], True)
    return out


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def unmet(requirements: list[str], locked: dict[str, tuple[str, bool]]) -> list[str]:
    problems = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        pinned = locked.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name}: not in the lock")
        elif not req.specifier.contains(pinned[0], prereleases=True):
            problems.append(f"{req.name}: {pinned[0]} does not satisfy {req.specifier}")
    return problems


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("test", "runtime"))]
)
def test_lock_meets_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    meta = project()
    wanted = list(meta["dependencies"]) + [r for e in extras for r in meta["optional-dependencies"][e]]
    assert unmet(wanted, pins(lock)) == [], f"{lock} is stale: run bash scripts/lock.sh"


def test_locks_agree_and_are_hashed() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert set(runtime) <= set(dev)
    assert {n: v for n, (v, _) in runtime.items() if dev[n][0] != v} == {}
    assert [n for n, (_, hashed) in {**runtime, **dev}.items() if not hashed] == []


def test_pin_parser_reads_a_lock_line() -> None:
    assert PIN.match("pyyaml==6.0.4 \\").groups()[:2] == ("pyyaml", "6.0.4")
    assert unmet(["PyYAML>=7"], {"pyyaml": ("6.0.4", True)}) == ["PyYAML: 6.0.4 does not satisfy >=7"]
