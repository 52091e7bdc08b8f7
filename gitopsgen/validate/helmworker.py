"""Helm renders in bounded child processes: a hostile chart or values can cost time, memory and output, but
never the validator's process.

The in-process renderer (helm-python-sdk, Go) cannot be bounded from Python: a ``tpl`` recursion ends
in a Go ``fatal error: stack overflow`` that kills the whole process after minutes and gigabytes, and a
nested ``range`` or a huge rendered string runs as long as it likes. So :func:`render_bounded` sends each
render to a worker process (``python -m gitopsgen.validate.helmworker``) that runs
:func:`~.helmrender.render_chart` with a memory limit (``RLIMIT_DATA``) and a scrubbed
environment, waits at most a time bound for the answer and reads at most an output bound of it. A
worker that exceeds a bound or dies is killed and replaced, and the render raises
:class:`BoundExceeded` (rule H006), so the run goes on and its report is written. Workers are kept
between renders (starting one costs ~0.4 s), one per concurrent render.

Bounds, from the environment: ``GITOPSGEN_HELM_TIMEOUT`` (seconds per render, default 120),
``GITOPSGEN_HELM_MAX_MB`` (writable memory of a worker, default 2048) and ``GITOPSGEN_HELM_MAX_OUTPUT_MB``
(rendered output per release, default 64).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .findings import Rule, Severity
from .helmrender import DEFAULT_KUBE_VERSION, Rendered, RenderError, ValuesSchemaError
from .sandbox import child_environment, env_number, limit_process

H006 = Rule(
    id="H006",
    name="render-bound-exceeded",
    stage="helm",
    severity=Severity.ERROR,
    summary="A HelmRelease's render exceeded the validator's time, memory or output bound.",
    doc=(
        "Every chart render runs in a separate process with a time bound, a memory bound and a bound "
        "on the rendered output (GITOPSGEN_HELM_TIMEOUT seconds, GITOPSGEN_HELM_MAX_MB and "
        "GITOPSGEN_HELM_MAX_OUTPUT_MB megabytes), because a template can recurse without end (tpl of a value "
        "that includes itself), loop for minutes or render gigabytes, and Helm itself would then exhaust "
        "helm-controller the same way. The render is stopped, nothing of the release is checked, and the "
        "finding names the bound; the rest of the validation runs on. Since a time-out may depend on the "
        "machine's load, this outcome is never cached."
    ),
)


class BoundExceeded(Exception):
    """A render exceeded a bound or its worker died; the message is one line naming the bound."""


@dataclass(frozen=True)
class Bounds:
    seconds: float = 120.0
    memory_mb: int = 2048
    output_mb: float = 64

    @classmethod
    def from_environment(cls) -> Bounds:
        d = cls()
        return cls(
            env_number("GITOPSGEN_HELM_TIMEOUT", d.seconds),
            int(env_number("GITOPSGEN_HELM_MAX_MB", d.memory_mb)),
            env_number("GITOPSGEN_HELM_MAX_OUTPUT_MB", d.output_mb),
        )


class _Worker:
    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        # the worker sets its own limits first thing (a preexec_fn is not safe in a threaded parent)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gitopsgen.validate.helmworker", str(bounds.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=child_environment({"GOTRACEBACK": "none"}),
            cwd=tempfile.gettempdir(),
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.stderr.close()

    def _death(self) -> str:
        """Why the worker died: Go's fatal error line when it printed one, else the exit status."""
        self.proc.wait()
        self.stderr.seek(0)
        tail = self.stderr.read(8192).decode("utf-8", "replace")  # Go prints its fatal error first
        fatal = [ln.strip() for ln in tail.splitlines() if ln.startswith(("fatal error:", "runtime:", "MemoryError"))]
        code = self.proc.returncode
        status = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        what = fatal[0][:200] if fatal else status
        if "memory" in what or "stack" in what or "MemoryError" in what:
            return f"the render ran out of memory (bound {self.bounds.memory_mb} MB: {what})"
        return f"the render process died ({what})"

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request, read one answer within the bounds; BoundExceeded (worker killed) otherwise."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request, default=str).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            raise BoundExceeded(self._death()) from None
        deadline = time.monotonic() + self.bounds.seconds
        limit = int(self.bounds.output_mb * (1 << 20))
        chunks: list[bytes] = []
        size = 0
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    raise BoundExceeded(f"the render did not finish within {self.bounds.seconds:g}s")
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise BoundExceeded(self._death())
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    self.kill()
                    raise BoundExceeded(f"the rendered output exceeds {self.bounds.output_mb:g} MB")
                if chunk.endswith(b"\n"):
                    break
        try:
            answer = json.loads(b"".join(chunks))
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):  # the worker is killed by the caller: never read out of step
            raise BoundExceeded("the render process answered something that is not a JSON object")
        return answer


_IDLE: list[_Worker] = []
_LOCK = threading.Lock()


def _take(bounds: Bounds) -> _Worker:
    with _LOCK:
        while _IDLE:
            worker = _IDLE.pop()
            if worker.bounds == bounds and worker.proc.poll() is None:
                return worker
            worker.kill()
    return _Worker(bounds)


def _give_back(worker: _Worker) -> None:
    with _LOCK:
        _IDLE.append(worker)


@atexit.register
def _stop_workers() -> None:
    with _LOCK:
        while _IDLE:
            _IDLE.pop().kill()


def render_bounded(
    archive: Path,
    values: dict[str, Any],
    release_name: str,
    namespace: str,
    *,
    kube_version: str = DEFAULT_KUBE_VERSION,
    is_install: bool = True,
    api_versions: Sequence[str] = (),
    bounds: Bounds | None = None,
) -> Rendered:
    """:func:`~.helmrender.render_chart` in a bounded worker: the same result and exceptions, plus
    :class:`BoundExceeded` when the render exceeds a bound or kills its worker."""
    from .chartarchive import ChartError

    bounds = bounds or Bounds.from_environment()
    request = {
        "archive": str(archive),
        "values": values,
        "release_name": release_name,
        "namespace": namespace,
        "kube_version": kube_version,
        "is_install": is_install,
        "api_versions": list(api_versions),
    }
    worker = _take(bounds)
    try:
        answer = worker.call(request)
    except BaseException:
        worker.kill()  # dead, killed for a bound, or interrupted mid-answer: never reused
        raise
    _give_back(worker)
    if "error" in answer:
        kind, message = str(answer.get("error")), answer.get("message")
        if kind == "bound":
            raise BoundExceeded(str(message))
        if kind == "values":
            raise ValuesSchemaError([str(e) for e in message] if isinstance(message, list) else [str(message)])
        if kind == "chart":
            raise ChartError(str(message))
        raise RenderError(str(message))
    return Rendered(
        objects=[(str(t), o) for t, o in answer.get("objects", [])],
        crds=[(str(t), o) for t, o in answer.get("crds", [])],
    )


def _serve(memory_mb: int) -> None:
    """The worker's loop: one JSON request per line on stdin, one JSON answer per line on stdout."""
    limit_process(memory_mb)
    from .chartarchive import ChartError
    from .helmrender import render_chart

    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        answer: dict[str, Any]
        try:
            rendered = render_chart(
                Path(request["archive"]),
                request["values"],
                request["release_name"],
                request["namespace"],
                kube_version=request["kube_version"],
                is_install=request["is_install"],
                api_versions=request["api_versions"],
            )
            answer = {"objects": rendered.objects, "crds": rendered.crds}
        except ValuesSchemaError as exc:
            answer = {"error": "values", "message": exc.errors}
        except ChartError as exc:
            answer = {"error": "chart", "message": str(exc)}
        except RenderError as exc:
            answer = {"error": "render", "message": str(exc)}
        except MemoryError:
            answer = {"error": "bound", "message": "the render ran out of memory"}
        out.write(json.dumps(answer, default=str).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else Bounds().memory_mb)
