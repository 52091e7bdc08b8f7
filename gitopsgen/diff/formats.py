"""The rendered diff laid out: Markdown for a merge-request note, a plain unified diff, or JSON.

Sizes are bounded: each object's diff is cut after ``max_lines`` lines (with a line saying how many
were left out), and the Markdown stays under GitLab's note limit, listing the objects it had no room
for. Secret values never reach this module (see :mod:`.objects`).

Everything shown comes from the merge request (paths, object names, kustomize's errors) and the note is
posted with a project token, so no untrusted string may start a line of its own: GitLab runs a line
that starts with ``/approve`` or ``/merge`` outside a code block as a quick action. Each untrusted
string is made one line (line breaks and other control characters become ``␤``) and shown as a
code span (delimited by a backtick run longer than any inside it, ``|`` escaped for tables);
each line of an object's diff starts with the diff's own ``+``/``-``/space/``@`` prefix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .compare import ADDED, CHANGED, REMOVED, ClusterDiff, ObjectChange

FORMATS = ("markdown", "diff", "json")
MARKDOWN_LIMIT = 900_000  # GitLab refuses notes over 1,000,000 characters


@dataclass
class DiffReport:
    base: str  # what the user gave, e.g. origin/main
    base_commit: str
    head: str  # "working tree"
    clusters: list[ClusterDiff] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)  # changed files no cluster reads

    @property
    def changed(self) -> bool:
        return any(c.objects for c in self.clusters)


def _cut(lines: list[str], max_lines: int) -> list[str]:
    if max_lines <= 0 or len(lines) <= max_lines:
        return lines
    return [*lines[:max_lines], f"... {len(lines) - max_lines} more line(s) not shown"]


def render(report: DiffReport, fmt: str, max_lines: int = 400) -> str:
    if fmt == "json":
        return render_json(report, max_lines)
    if fmt == "diff":
        return render_diff(report, max_lines)
    return render_markdown(report, max_lines)


# ---------------------------------------------------------------- diff


def render_diff(report: DiffReport, max_lines: int) -> str:
    out: list[str] = []
    for c in report.clusters:
        for side, errors in sorted(c.errors.items()):
            out += [f"# {c.name}: {side} does not build: {e}" for e in errors]
        for o in c.objects:
            out += _cut(o.diff, max_lines)
    return "\n".join(out) + ("\n" if out else "")


# ---------------------------------------------------------------- json


def render_json(report: DiffReport, max_lines: int) -> str:
    data = {
        "base": {"ref": report.base, "commit": report.base_commit},
        "head": report.head,
        "changed": report.changed,
        "clusters": [
            {
                "name": c.name,
                "status": c.status,
                "reason": c.reason,
                "changedInputs": c.inputs,
                "errors": c.errors,
                "summary": {k: c.count(k) for k in (ADDED, CHANGED, REMOVED)},
                "objects": [
                    {
                        "apiVersion": o.api_version,
                        "kind": o.key.kind,
                        "namespace": o.key.namespace,
                        "name": o.key.name,
                        "change": o.change,
                        "linesAdded": o.added,
                        "linesRemoved": o.removed,
                        "diff": "\n".join(_cut(o.diff, max_lines)),
                    }
                    for o in c.objects
                ],
            }
            for c in report.clusters
        ],
        "changedFilesOutsideClusters": report.outside,
    }
    return json.dumps(data, indent=2) + "\n"


# ---------------------------------------------------------------- markdown


def _fence(lines: list[str]) -> str:
    """A code fence longer than any backtick run in the content, so the content cannot close it."""
    longest = max((len(m) for ln in lines for m in re.findall(r"`+", ln)), default=0)
    return "`" * max(3, longest + 1)


_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every line break and control character replaced by ``␤``: it cannot start a line."""
    return _BREAKS.sub("\u2424", text)


def _code(text: str) -> str:
    """An untrusted string as one inline code span: one line, delimited by a backtick run longer than any
    inside it, ``|`` escaped (GitLab tables split cells on it even inside code spans)."""
    text = one_line(text).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _status(c: ClusterDiff) -> str:
    if c.status == "skipped":
        return f"not rendered: {one_line(c.reason)}"
    if c.status == "unchanged":
        return "rendered, no object changes"
    text = ", ".join(f"{c.count(k)} {k}" for k in (ADDED, CHANGED, REMOVED) if c.count(k))
    extra = {"added": "new cluster", "removed": "cluster removed"}.get(c.status)
    return f"{extra}: {text}" if extra and text else text or extra or c.status


def _object_block(o: ObjectChange, max_lines: int) -> list[str]:
    body = [one_line(ln) for ln in _cut(o.diff, max_lines)]
    fence = _fence(body)
    stats = f"+{o.added} -{o.removed}"
    return [
        f"<details><summary><b>{o.change}</b> {_code(o.key.title)} ({stats})</summary>",
        "",
        f"{fence}diff",
        *body,
        fence,
        "",
        "</details>",
        "",
    ]


def render_markdown(report: DiffReport, max_lines: int, limit: int = MARKDOWN_LIMIT) -> str:
    rendered = [c for c in report.clusters if c.status != "skipped"]
    head = [
        "### gitopsgen: rendered changes per cluster",
        "",
        f"{_code(report.base)} ({_code(report.base_commit[:12])}) → {one_line(report.head)}. "
        f"{len(rendered)} of {len(report.clusters)} cluster(s) rendered at both revisions "
        "(kustomize, Flux postBuild, Helm)"
        + ("; the others read no changed file." if len(rendered) < len(report.clusters) else "."),
        "",
    ]
    if not report.changed:
        head += ["**No rendered object changes.**", ""]
    head += ["| cluster | result |", "|---|---|"]
    head += [f"| {_code(c.name)} | {_status(c)} |" for c in report.clusters]
    head.append("")
    if report.outside:
        shown = ", ".join(_code(p) for p in report.outside[:20])
        more = f" and {len(report.outside) - 20} more" if len(report.outside) > 20 else ""
        head += [f"Changed files that no cluster's Flux build reads (intent, docs, CI): {shown}{more}.", ""]
    out = "\n".join(head) + "\n"
    left_out: list[str] = []
    for c in rendered:
        section: list[str] = [f"#### {_code(c.name)}", ""]
        if c.inputs:
            names = ", ".join(_code(p) for p in c.inputs[:10])
            more = f" and {len(c.inputs) - 10} more" if len(c.inputs) > 10 else ""
            section += [f"Changed inputs: {names}{more}.", ""]
        for side, errors in sorted(c.errors.items()):
            label = "base" if side == "base" else "this merge request"
            section += [f"> **{label} does not build:** {_code(e)}" for e in errors] + [""]
        if not c.objects and not c.errors:
            section += ["No rendered object changes.", ""]
        out += "\n".join(section) + "\n"
        for o in c.objects:
            block = "\n".join(_object_block(o, max_lines)) + "\n"
            if len(out) + len(block) > limit:
                left_out.append(f"{c.name}: {o.change} {o.key.title}")
                continue
            out += block
    if left_out:
        out += f"\n**{len(left_out)} object change(s) not shown (note size limit)**; the full diff is in the job's "
        out += "artifact:\n\n" + "\n".join(f"- {_code(x)}" for x in left_out[:200]) + "\n"
    return out
