"""Validator settings: defaults ← ``[tool.gitopsgen]`` (pyproject.toml) or ``.gitopsgen.yaml`` ← command line.

Keys (kebab-case; snake_case accepted): ``kubernetes-version``, ``clusters-dir``, ``entries`` (files or
directories where Flux starts, see :mod:`.entries`), ``crds`` (list of
paths), ``helm-mirrors`` (URL → mirror URL or directory), ``chart-cache``, ``offline``, ``ignore``
(path globs), ``disable`` (rule IDs), ``rules`` (ID → ``{enabled, severity}``). Paths in a config file
are relative to the repository root and must stay inside it: the repository under test does not
get to make the validator read the CI runner's files. Paths given on the command line are the
user's own and may point anywhere.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..yamlio import no_yaml_aliases
from .findings import Severity
from .load import inside
from .schemas import kubernetes_versions

FLUX_KUBERNETES_VERSIONS = ("1.34", "1.35", "1.36")  # what Flux v2.9 supports


def default_kubernetes_version() -> str:
    """The newest Kubernetes minor that Flux v2.9 supports and the bundled schemas cover."""
    bundled = kubernetes_versions()
    covered = [v for v in FLUX_KUBERNETES_VERSIONS if v in bundled]
    return covered[-1] if covered else bundled[-1]


DEFAULT_KUBERNETES_VERSION = default_kubernetes_version()


@dataclass(frozen=True)
class RuleSetting:
    enabled: bool = True
    severity: Severity | None = None


@dataclass(frozen=True)
class Settings:
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    clusters_dir: str = "clusters"
    clusters: tuple[str, ...] = ()
    entries: tuple[str, ...] = ()  # repository-relative entry files or directories (replace discovery)
    crds: tuple[Path, ...] = ()
    helm_mirrors: tuple[tuple[str, str], ...] = ()
    chart_cache: Path | None = None
    offline: bool = False
    ignore: tuple[str, ...] = ()
    rules: dict[str, RuleSetting] = field(default_factory=dict)
    source: str = ""  # the config file read, for messages
    shard: tuple[int, int] | None = None  # (K, N): validate the K-th of N shares of the clusters (1-based)
    changed_since: str | None = None  # a git revision: validate only the clusters whose inputs changed since
    cache: bool = True  # reuse and store results in the result cache (--no-cache: neither)
    # the rule IDs the config file names, as (setting, ID as written), in its order: the engine, which knows
    # the catalogue, rejects unknown ones (see engine.check_rule_ids)
    named_rules: tuple[tuple[str, object], ...] = ()

    def severity(self, rule: str, default: Severity) -> Severity | None:
        """The effective severity of a rule whose catalogue severity is ``default``, or None when it is disabled."""
        setting = self.rules.get(rule, RuleSetting())
        if not setting.enabled:
            return None
        return setting.severity if setting.severity is not None else default


_KEYS = {
    "kubernetes-version",
    "clusters-dir",
    "entries",
    "crds",
    "helm-mirrors",
    "chart-cache",
    "offline",
    "ignore",
    "disable",
    "rules",
}


def find_config(root: Path) -> tuple[dict[str, Any], str]:
    """The raw config table of the repository and the file it came from ({} and "" when none)."""
    dotfile = root / ".gitopsgen.yaml"
    if dotfile.is_file() and inside(root, dotfile):
        try:
            text = dotfile.read_text(encoding="utf-8")
            no_yaml_aliases(text, ".gitopsgen.yaml")
            data = yaml.safe_load(text) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid YAML: {str(exc).splitlines()[0]}", file=".gitopsgen.yaml") from None
        if not isinstance(data, dict):
            raise InputError("must be a mapping of settings", file=".gitopsgen.yaml")
        return data, ".gitopsgen.yaml"
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and inside(root, pyproject):
        try:
            table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("gitopsgen")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid TOML: {exc}", file="pyproject.toml") from None
        if isinstance(table, dict):
            return table, "pyproject.toml [tool.gitopsgen]"
    return {}, ""


def _repo_path(root: Path, value: Any, key: str, source: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(f"{key}: expected a path, got {value!r}", file=source)
    path = (root / value).resolve()
    if not inside(root, path):
        raise InputError(f"{key}: {value} is outside the repository (give it on the command line instead)", file=source)
    return path


def _severity(value: Any, where: str, source: str) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        raise InputError(f"{where}: severity must be error, warning or info, not {value!r}", file=source) from None


def from_table(root: Path, table: dict[str, Any], source: str) -> Settings:
    """Settings from a config table; unknown keys and bad values are input errors naming the file."""
    table = {str(k).replace("_", "-"): v for k, v in table.items()}
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})", file=source)
    s = Settings(source=source)
    if "kubernetes-version" in table:
        s = replace(s, kubernetes_version=str(table["kubernetes-version"]))
    if "clusters-dir" in table:
        rel = _repo_path(root, table["clusters-dir"], "clusters-dir", source).relative_to(root).as_posix()
        s = replace(s, clusters_dir=rel)
    if "entries" in table:
        entries = table["entries"] if isinstance(table["entries"], list) else [table["entries"]]
        s = replace(
            s,
            entries=tuple(_repo_path(root, e, "entries", source).relative_to(root).as_posix() or "." for e in entries),
        )
    if "crds" in table:
        crds = table["crds"] if isinstance(table["crds"], list) else [table["crds"]]
        s = replace(s, crds=tuple(_repo_path(root, c, "crds", source) for c in crds))
    if "helm-mirrors" in table:
        mirrors = table["helm-mirrors"]
        if not isinstance(mirrors, dict):
            raise InputError("helm-mirrors: expected a table of URL = mirror", file=source)
        pairs = []
        for url, mirror in sorted(mirrors.items()):
            target = str(mirror)
            if "://" not in target:
                target = str(_repo_path(root, target, f"helm-mirrors.{url}", source))
            pairs.append((str(url), target))
        s = replace(s, helm_mirrors=tuple(pairs))
    if "chart-cache" in table:
        s = replace(s, chart_cache=_repo_path(root, table["chart-cache"], "chart-cache", source))
    if "offline" in table:
        if not isinstance(table["offline"], bool):
            raise InputError("offline: expected true or false", file=source)
        s = replace(s, offline=table["offline"])
    if "ignore" in table:
        ignore = table["ignore"] if isinstance(table["ignore"], list) else [table["ignore"]]
        s = replace(s, ignore=tuple(str(i).strip("/") for i in ignore))
    rules: dict[str, RuleSetting] = {}
    named: list[tuple[str, object]] = []
    for rid in table.get("disable", []) or []:
        named.append(("disable", rid))
        rules[str(rid).upper()] = RuleSetting(enabled=False)
    for rid, setting in (table.get("rules") or {}).items():
        named.append(("rules", rid))
        key = str(rid).upper()
        if not isinstance(setting, dict) or set(setting) - {"enabled", "severity"}:
            raise InputError(f"rules.{rid}: expected {{enabled: bool, severity: level}}", file=source)
        severity = _severity(setting["severity"], f"rules.{rid}", source) if "severity" in setting else None
        rules[key] = RuleSetting(enabled=bool(setting.get("enabled", True)), severity=severity)
    return replace(s, rules=rules, named_rules=tuple(named))


def load_settings(root: Path) -> Settings:
    table, source = find_config(root)
    return from_table(root, table, source) if source else Settings()


def parse_shard(option: str) -> tuple[int, int]:
    """``K/N`` (GitLab's ``$CI_NODE_INDEX/$CI_NODE_TOTAL``): 1 <= K <= N."""
    k, sep, n = option.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise InputError(f"--shard {option}: expected K/N with 1 <= K <= N, e.g. 2/4")
    return int(k), int(n)


def parse_mirror(option: str) -> tuple[str, str]:
    """``URL=MIRROR`` from the command line (MIRROR: a URL or a local directory)."""
    url, sep, mirror = option.partition("=")
    if not sep or not url or not mirror:
        raise InputError(f"--helm-mirror {option}: expected URL=MIRROR")
    if "://" not in mirror:
        path = Path(mirror).expanduser().resolve()
        if not (path / "index.yaml").is_file() and not any(path.glob("*.tgz")):
            raise InputError(f"--helm-mirror {option}: {mirror} holds no index.yaml or chart archive")
        mirror = str(path)
    return url.rstrip("/"), mirror
