"""G001 generated-drift: a file gitopsgen generates differs from what the repository's intent renders."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from ...errors import InputError
from ...generate import intent as it
from ...generate.generator import RENDER, Renders, plan_all
from ...generate.render.registry import EncryptedPullSecret
from ..findings import Finding, Rule, Severity
from ..model import Context
from ..resultcache import ResultCache, digest, tool_digest

SCOPE = "repository"  # see rules/__init__.py
RULE = Rule(
    "G001",
    "generated-drift",
    "semantics",
    Severity.ERROR,
    "A generated file differs from what the intent (gitopsgen.yaml, intent/clusters/) renders.",
    "In a repository managed by gitopsgen, base/, overlays/<cluster>/ and clusters/<cluster>/prefect/ are "
    "rendered from gitopsgen.yaml and intent/clusters/<cluster>.yaml. A hand edit to a generated file is lost "
    "on the next 'gitopsgen generate', and a file it generated earlier (listed in .generated-files) and no "
    "longer generates is deleted by it; files it did not write are left alone. Values Flux image automation "
    "wrote behind setter markers are not drift while their ImagePolicy could have written them. The finding "
    "points at the first differing line; change the intent instead and run 'gitopsgen generate' (or move the "
    "change into the overlay's custom/ Component, which gitopsgen never touches). Repositories without "
    "gitopsgen.yaml are not checked.",
)


def first_difference(old: str, new: str) -> int:
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    for tag, i1, _, _, _ in matcher.get_opcodes():
        if tag != "equal":
            return i1 + 1
    return 1


class CachedRenders:
    """The generator's renders, memoised in the result cache by the resolved intent (rendering is a pure
    function of it and of gitopsgen's own code, which the tool digest covers)."""

    def __init__(self, cache: ResultCache) -> None:
        self.cache = cache
        self.tool = tool_digest()

    def fleet(self, fleet: it.Fleet) -> dict[str, str]:
        key = digest("render-fleet", self.tool, repr(fleet))
        found = self.cache.get("render", key)
        if isinstance(found, dict) and all(isinstance(v, str) for v in found.values()):
            return found
        files = RENDER.fleet(fleet)
        self.cache.put("render", key, files)
        return files

    def cluster(self, resolved: it.Resolved) -> dict[str, Any]:
        key = digest("render-cluster", self.tool, repr(resolved))
        found = _files_from(self.cache.get("render", key))
        if found is not None:
            return found
        files = RENDER.cluster(resolved)
        self.cache.put("render", key, {path: _file_json(value) for path, value in files.items()})
        return files


def _file_json(value: Any) -> Any:
    if isinstance(value, EncryptedPullSecret):
        return {"namespace": value.namespace, "host": value.host, "recipients": list(value.recipients)}
    return value


def _files_from(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for path, v in value.items():
        if isinstance(v, str):
            out[path] = v
        elif (
            isinstance(v, dict) and set(v) == {"namespace", "host", "recipients"} and isinstance(v["recipients"], list)
        ):
            out[path] = EncryptedPullSecret(str(v["namespace"]), str(v["host"]), tuple(map(str, v["recipients"])))
        else:
            return None
    return out


def check(ctx: Context) -> Iterator[Finding]:
    if not (ctx.root / "gitopsgen.yaml").is_file() or not (ctx.root / "intent").is_dir():
        return
    renders: Renders = CachedRenders(ctx.cache) if ctx.cache is not None else RENDER
    try:
        # a --changed-since run reports findings of no cluster only for changed files: plan the parts they touch
        plan = plan_all(ctx.root, renders=renders, touching=ctx.changed)
    except InputError as exc:
        yield Finding("gitopsgen.yaml", 0, RULE.id, f"the intent does not load: {exc}", RULE.severity)
        return
    for path, text in sorted(plan.write.items()):
        current = plan.current.get(path)
        if current is None:
            yield Finding(path, 0, RULE.id, "generated file is missing; run 'gitopsgen generate'", RULE.severity)
        else:
            line = first_difference(current, text)
            yield Finding(
                path, line, RULE.id, "hand edit in a generated file; change the intent instead", RULE.severity
            )
    for path in sorted(plan.delete):
        yield Finding(
            path, 0, RULE.id, "file gitopsgen generated and no longer generates from the intent", RULE.severity
        )
