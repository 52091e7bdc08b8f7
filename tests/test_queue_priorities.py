"""The work-queue priority init container's script (gitopsgen.generate.render.queues) against a real Prefect server.

The server is the ``prefect`` package (3.8.3, the charts' appVersion) started on 127.0.0.1 with basic
auth and SQLite in a temporary directory; the script runs as the init container runs it (``python -c``,
the pool and queues in its environment, the worker's auth string), and the outcome is read back through
the server's REST API. Skipped, naming it, when ``prefect`` is not installed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gitopsgen.generate.render import jobtemplate, queues

pytestmark = pytest.mark.runtime
AUTH = ("admin", "s3cret")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    pytest.importorskip("prefect", reason="needs the prefect package (3.8.3, the charts' appVersion)")
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{url}/health", auth=AUTH, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prefect server did not become healthy in 120 s")
            time.sleep(0.5)
        yield {"url": url, "home": str(home)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_script(server: dict[str, str], tmp_path: Path, pool: str, names: list[str]) -> str:
    """The init container's command, with the environment the rendered container gives it."""
    template = tmp_path / "baseJobTemplate.json"
    template.write_text(jobtemplate.to_json(jobtemplate.prefect_default()))
    env = {
        **os.environ,
        "PREFECT_HOME": server["home"],
        "PREFECT_API_URL": server["url"],
        "PREFECT_API_AUTH_STRING": ":".join(AUTH),
        queues.ENV_POOL: pool,
        queues.ENV_QUEUES: json.dumps(names),
        "GITOPSGEN_BASE_JOB_TEMPLATE": str(template),
    }
    proc = subprocess.run([sys.executable, "-c", queues.SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def priorities(server: dict[str, str], pool: str) -> dict[str, int]:
    r = httpx.post(f"{server['url']}/work_pools/{pool}/queues/filter", json={}, auth=AUTH, timeout=10)
    r.raise_for_status()
    return {q["name"]: q["priority"] for q in r.json()}


def read_pool(server: dict[str, str], pool: str) -> dict[str, Any]:
    r = httpx.get(f"{server['url']}/work_pools/{pool}", auth=AUTH, timeout=10)
    r.raise_for_status()
    return r.json()


def test_a_new_pool_is_created_with_its_template_and_queues_in_the_order_given(server, tmp_path) -> None:
    out = run_script(server, tmp_path, "etl", ["high", "default"])
    assert "created work pool etl" in out
    pool = read_pool(server, "etl")
    assert pool["type"] == "kubernetes"
    assert pool["base_job_template"] == jobtemplate.prefect_default()
    assert priorities(server, "etl") == {"high": 1, "default": 2}
    # idempotent: a second start changes nothing
    assert run_script(server, tmp_path, "etl", ["high", "default"]) == ""
    assert priorities(server, "etl") == {"high": 1, "default": 2}


def test_existing_queues_are_moved_to_the_order_given(server, tmp_path) -> None:
    """As a worker leaves them: the pool's default queue first, then a queue created on demand below it."""
    r = httpx.post(
        f"{server['url']}/work_pools/",
        json={"name": "ml", "type": "kubernetes", "base_job_template": jobtemplate.prefect_default()},
        auth=AUTH,
        timeout=10,
    )
    r.raise_for_status()
    httpx.post(f"{server['url']}/work_pools/ml/queues", json={"name": "urgent"}, auth=AUTH).raise_for_status()
    httpx.post(f"{server['url']}/work_pools/ml/queues", json={"name": "bulk"}, auth=AUTH).raise_for_status()
    assert priorities(server, "ml") == {"default": 1, "urgent": 2, "bulk": 3}
    out = run_script(server, tmp_path, "ml", ["urgent", "default", "bulk"])
    assert "created work pool" not in out
    assert priorities(server, "ml") == {"urgent": 1, "default": 2, "bulk": 3}
    run_script(server, tmp_path, "ml", ["bulk", "urgent"])
    assert priorities(server, "ml")["bulk"] == 1 and priorities(server, "ml")["urgent"] == 2
