"""kustomize plugin configurations (generators, transformers): what a built-in plugin's configuration reads,
and why a non-built-in plugin is refused (it would run code from the repository)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .load import parse_documents

_BUILTIN_PLUGIN_API = "builtin"


def plugin_configs(path: Path) -> list[Any]:
    """The plugin configs (mappings) of a generators/transformers file ([] when unreadable)."""
    try:
        return _parsed(path.read_text(encoding="utf-8"), path.name)
    except (OSError, UnicodeDecodeError):
        return []


def plugin_reads(config: Any) -> tuple[list[str], list[Any]]:
    """What one builtin plugin config makes kustomize read: (files, relative to the kustomization that
    lists the config; inline patches). PatchTransformer and PatchJson6902Transformer ``path``/``patch``/
    ``jsonOp``, PatchStrategicMergeTransformer ``paths``/``patches``, ConfigMap/SecretGenerator ``files``
    (``key=path``), ``envs`` and ``env``, ReplacementTransformer ``replacements[].path``."""
    if not isinstance(config, dict):
        return [], []
    files: list[str] = []
    inline: list[Any] = []
    kind = config.get("kind")
    if kind in ("PatchTransformer", "PatchJson6902Transformer"):
        files += [config["path"]] if isinstance(config.get("path"), str) else []
        inline += [config[k] for k in ("patch", "jsonOp") if config.get(k)]
    elif kind == "PatchStrategicMergeTransformer":
        files += [p for p in _list(config.get("paths")) if isinstance(p, str)]
        patches = config.get("patches")
        if isinstance(patches, str):
            inline += [d for d in _parsed(patches, "patches")]
        elif patches:
            inline += _list(patches)
    elif kind in ("ConfigMapGenerator", "SecretGenerator"):
        files += [f.split("=", 1)[-1] for f in _list(config.get("files")) if isinstance(f, str)]
        files += [e for e in [*_list(config.get("envs")), config.get("env")] if isinstance(e, str) and e]
    elif kind == "ReplacementTransformer":
        replacements = [r for r in _list(config.get("replacements")) if isinstance(r, dict)]
        files += [r["path"] for r in replacements if isinstance(r.get("path"), str)]
    return files, inline


def plugin_problem(path: Path) -> str:
    """Why a generators/transformers entry would run code ('' for kustomize's builtin plugins)."""
    try:
        parsed, problems = parse_documents(path.read_text(encoding="utf-8"), path.name)
    except (OSError, UnicodeDecodeError):
        return ""  # kustomize reports unreadable plugin configs itself
    if any(f.rule == "Y003" for f in problems):  # an alias bomb or the like: kustomize must not get it either
        return "plugin config exceeds the validator's YAML bounds; not run"
    for d in (doc.data for doc in parsed if isinstance(doc.data, dict)):
        metadata = d.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        api_version, kind = d.get("apiVersion"), d.get("kind")
        if (isinstance(annotations, dict) and any("function" in str(a) for a in annotations)) or (
            api_version != _BUILTIN_PLUGIN_API
        ):
            what = f"{kind} ({api_version})" if isinstance(kind, str) and isinstance(api_version, str) else "config"
            return f"plugin {what[:200]} would run code; Flux runs no plugins"
    return ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _parsed(text: str, where: str) -> list[Any]:
    """The mappings of a YAML text, parsed within the validator's bounds ([] when it is not YAML)."""
    docs, problems = parse_documents(text, where)
    if problems:
        return []
    return [d.data for d in docs if isinstance(d.data, dict)]
