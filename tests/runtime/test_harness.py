"""The runtime harness's own plumbing, fast (no Prefect process): how rendered containers become local
processes, and the loopback endpoint the worker posts its Job to."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import serve
from harness import (
    BIN,
    Network,
    Processes,
    SecretValues,
    command_of,
    free_port,
    local_path,
    recorder_class,
    resolve_env,
    wait_ready,
)

# exits (1) on its first N starts, then answers 200 on every path: a container the kubelet restarts
FLAKY = """
import http.server, pathlib, sys
marker, crashes, port = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
done = int(marker.read_text()) if marker.exists() else 0
if done < crashes:
    marker.write_text(str(done + 1))
    sys.exit(1)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Ok).serve_forever()
"""


def test_rendered_commands_run_without_the_image_wrapper() -> None:
    server = {"command": ["/usr/bin/tini", "-g", "--", "/opt/prefect/entrypoint.sh"],
              "args": ["prefect", "server", "start", "--port", "4200"]}  # fmt: skip
    assert command_of(server) == [str(BIN / "prefect"), "server", "start", "--port", "4200"]
    migration = {"command": ["/bin/sh", "-c"], "args": ["set -eo pipefail\nprefect server database upgrade -y\n"]}
    assert command_of(migration)[:3] == ["bash", "--posix", "-c"]


def test_mount_paths_and_secret_refs_resolve(tmp_path: Path) -> None:
    mounts = {"/home/prefect": tmp_path / "home", "/tmp": tmp_path / "tmp", "/data": tmp_path / "pvc"}
    assert local_path("/home/prefect", mounts) == str(tmp_path / "home")
    assert local_path("/tmp/x", mounts) == str(tmp_path / "tmp" / "x")  # once, though tmp_path is under /tmp
    assert (
        local_path("sqlite+aiosqlite:////data/prefect.db", mounts) == f"sqlite+aiosqlite:///{tmp_path}/pvc/prefect.db"
    )
    assert local_path("/database", mounts) == "/database"
    container = {"env": [
        {"name": "HOME", "value": "/home/prefect"},
        {"name": "URL", "valueFrom": {"secretKeyRef": {"name": "prefect-db", "key": "connection-string"}}},
    ]}  # fmt: skip
    secrets = SecretValues({"connection-string": "postgresql+asyncpg://x"})
    env = resolve_env(container, secrets, Network(mounts=mounts), "t")
    assert env == {"HOME": str(tmp_path / "home"), "URL": "postgresql+asyncpg://x"}


def test_the_recorder_keeps_what_the_worker_posts() -> None:
    recorder = recorder_class()
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "run-"}}
    with serve(recorder) as port:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/apis/batch/v1/namespaces/flows/jobs",
            data=json.dumps(job).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.loads(response.read())
            assert response.status == 201
    assert recorder.posted == [("flows", job)]
    assert answer["metadata"]["namespace"] == "flows" and answer["metadata"]["name"].startswith("run-")


@pytest.mark.parametrize(("crashes", "ready"), [(0, True), (1, True), (99, False)])
def test_the_install_wait_goes_on_through_restarts_not_a_crash_loop(tmp_path: Path, crashes: int, ready: bool) -> None:
    """As Helm's wait with the kubelet restarting containers: a replica that crashes once (two replicas racing to
    register block types) gets ready; one that crashes on every start (an unmigrated database) never does."""
    procs = Processes(tmp_path)
    port = free_port()
    argv = [sys.executable, "-c", FLAKY, str(tmp_path / "starts"), str(crashes), str(port)]
    try:
        p = procs.start("flaky", argv, {}, tmp_path, url=f"http://127.0.0.1:{port}")
        assert wait_ready(p, "/health", timeout=30) is ready
        assert len(p.crashes) == min(crashes, 3)
    finally:
        procs.stop()
