"""Work-queue priorities in the order a pool lists its queues (the first is the highest, priority 1).

Prefect gives a queue it creates on demand the first free priority, and every pool starts with its
``default`` queue at priority 1: ``queues=high+default`` would leave ``high`` below ``default``. The
prefect-worker chart has no value for priorities, so each pool with queues gets one more init
container (``worker.initContainer.extraContainers``, after the chart's ``sync-base-job-template``): it
creates the work pool from the pool's base job template when it does not exist yet (what the worker
itself would do on its first start), then creates each queue with its priority or moves an existing
one to it, through the Prefect API with the worker's own image, URL and auth string. The script is a
constant (the pool and queues come in environment variables), so its text holds nothing Helm's
``tpl`` or Flux's substitution would read. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from ...yamlio import Block
from .secrets import AUTH_STRING_KEY

CONTAINER_NAME = "work-queue-priorities"
ENV_POOL = "GITOPSGEN_WORK_POOL"
ENV_QUEUES = "GITOPSGEN_WORK_QUEUES"
TEMPLATE_FILE = "/home/prefect/baseJobTemplate.json"  # where the chart mounts the pool's base job template

SCRIPT = """\
import asyncio
import json
import os

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

POOL = os.environ["GITOPSGEN_WORK_POOL"]
QUEUES = json.loads(os.environ["GITOPSGEN_WORK_QUEUES"])
TEMPLATE = os.environ.get("GITOPSGEN_BASE_JOB_TEMPLATE", "/home/prefect/baseJobTemplate.json")


async def main():
    async with get_client() as client:
        try:
            await client.read_work_pool(POOL)
        except ObjectNotFound:
            with open(TEMPLATE) as f:
                template = json.load(f)
            try:
                await client.create_work_pool(
                    WorkPoolCreate(name=POOL, type="kubernetes", base_job_template=template)
                )
                print("created work pool", POOL)
            except ObjectAlreadyExists:
                pass
        for priority, name in enumerate(QUEUES, start=1):
            try:
                queue = await client.read_work_queue_by_name(name, work_pool_name=POOL)
            except ObjectNotFound:
                try:
                    await client.create_work_queue(name=name, work_pool_name=POOL, priority=priority)
                    print("created work queue", name, "priority", priority)
                    continue
                except ObjectAlreadyExists:
                    queue = await client.read_work_queue_by_name(name, work_pool_name=POOL)
            if queue.priority != priority:
                await client.update_work_queue(queue.id, priority=priority)
                print("work queue", name, "priority", queue.priority, "->", priority)


asyncio.run(main())
"""


def init_container(
    pool: str, queues: list[str], image: str, api_url: str, auth_secret: str | None, resources: dict[str, Any]
) -> dict[str, Any]:
    """The init container that sets the priorities of ``queues`` in work pool ``pool``."""
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/home/prefect"},
        {"name": "PREFECT_API_URL", "value": api_url},
    ]
    if auth_secret:
        env.append(
            {
                "name": "PREFECT_API_AUTH_STRING",
                "valueFrom": {"secretKeyRef": {"name": auth_secret, "key": AUTH_STRING_KEY}},
            }
        )
    env += [
        {"name": ENV_POOL, "value": pool},
        {"name": ENV_QUEUES, "value": json.dumps(queues)},
    ]
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-c", Block(SCRIPT)],
        "workingDir": "/home/prefect",
        "env": env,
        "resources": resources,
        "securityContext": {
            "runAsUser": 1001,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        # the chart's pod volumes: a writable home and the pool's base job template
        "volumeMounts": [
            {"mountPath": "/home/prefect", "name": "scratch", "subPathExpr": "home"},
            {"mountPath": "/tmp", "name": "scratch", "subPathExpr": "tmp"},
            {"mountPath": TEMPLATE_FILE, "name": "base-job-template-file", "subPath": "baseJobTemplate.json"},
        ],
    }
