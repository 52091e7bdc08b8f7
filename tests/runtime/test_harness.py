"""The runtime harness's own plumbing, fast (no Prefect process): how rendered containers become local
processes, and the loopback endpoint the worker posts its Job to."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from conftest import serve
from harness import BIN, Network, SecretValues, command_of, local_path, recorder_class, resolve_env


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
    assert local_path("sqlite+aiosqlite:////data/prefect.db", mounts) == f"sqlite+aiosqlite:///{tmp_path}/pvc/prefect.db"
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
            f"http://127.0.0.1:{port}/apis/batch/v1/namespaces/flows/jobs", data=json.dumps(job).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.loads(response.read())
            assert response.status == 201
    assert recorder.posted == [("flows", job)]
    assert answer["metadata"]["namespace"] == "flows" and answer["metadata"]["name"].startswith("run-")
