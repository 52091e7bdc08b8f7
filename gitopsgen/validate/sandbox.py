"""Bounds and a clean environment for the child processes that read repository content (kustomize, the Helm
render workers).

A merge request's repository is untrusted: what reads it runs with a scrubbed environment (no registry
password, GitLab token or cache secret of ours reaches it; :func:`child_environment`) and within resource
limits set in the child itself (:func:`limit_process`; a ``preexec_fn`` is not safe in the validator's
threads), so a hostile input costs at most the bound and a finding, never the runner.
"""

from __future__ import annotations

import os
import resource
import sys

# what a child's environment keeps of ours: what running a program needs, nothing secret
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "HOME")


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A scrubbed environment for child processes that read repository content: only what running them
    needs (``PATH``, locale, ``TMPDIR``, ``HOME``, ``PYTHONPATH``), never credentials."""
    env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
    env.update(extra or {})
    return env


def env_number(name: str, default: float) -> float:
    """A positive number from the environment variable ``name``, else ``default``."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def limit_process(memory_mb: float, file_mb: float = 16) -> None:
    """Bound this process: writable memory ``memory_mb`` (``RLIMIT_DATA``: Go reserves address space it never
    uses, so ``RLIMIT_AS`` would measure the wrong thing), each file it writes ``file_mb`` (stdout redirected to
    a file included: the way to bound a child's output), no core dumps."""
    for which, mb in ((resource.RLIMIT_DATA, memory_mb), (resource.RLIMIT_FSIZE, file_mb), (resource.RLIMIT_CORE, 0)):
        _lower(which, int(mb * (1 << 20)))


def _lower(which: int, limit: int) -> None:
    """Set a limit, never above the one already in force (a process may only lower its hard limit)."""
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(which, (limit, limit))


_SHIM = (  # limit_process, standalone: the shim runs in isolated mode, without gitopsgen on its path
    "import os, resource as r, sys\n"
    "for w, mb in ((r.RLIMIT_DATA, sys.argv[1]), (r.RLIMIT_FSIZE, sys.argv[2]), (r.RLIMIT_CORE, 0)):\n"
    "    n, h = int(float(mb) * 1048576), r.getrlimit(w)[1]\n"
    "    n = n if h == r.RLIM_INFINITY else min(n, h)\n"
    "    r.setrlimit(w, (n, n))\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)


def limited(command: list[str], memory_mb: float, file_mb: float) -> list[str]:
    """``command`` under the limits of :func:`limit_process`, set by a small Python shim (isolated mode, no
    site: a few milliseconds) that then execs it."""
    return [sys.executable, "-I", "-S", "-c", _SHIM, str(memory_mb), str(file_mb), *command]
