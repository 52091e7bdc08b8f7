"""Run as a worker pod would, with the env rendered from the worker chart's Deployment (resolved to the test
servers): ``python worker_job.py SPEC.json``, one process per pool (a Python start is the slow part here).

1. It enters prefect-kubernetes' ``KubernetesWorker`` with the base job template, which is what ``prefect
   worker start --base-job-template`` does on a pool's first run: the worker creates the pool.
2. It runs the worker chart's init container (``SPEC["init"]``: its rendered command and env), which syncs
   the base job template into the existing pool with ``prefect work-pool update``; its output is printed.
3. It creates a flow and a deployment with the given ``job_variables`` on that pool, schedules a flow run
of it, and has the worker build and submit its Job exactly as it does for a real run
(``resolve_for_flow_run`` then ``KubernetesWorker._create_job``, which also swaps ``PREFECT_API_AUTH_STRING``
for the Secret named by ``PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME``). The Job goes
to KUBE_API_URL, the harness's loopback endpoint that records what the worker posts: there is no API server
or kubelet here. The observer (kopf, which watches a real cluster) is switched off by the harness.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


async def create_pool(pool: str, template: dict[str, Any]) -> None:
    from prefect_kubernetes.worker import KubernetesWorker

    async with KubernetesWorker(work_pool_name=pool, base_job_template=template) as worker:
        assert worker.work_pool is not None and worker.work_pool.name == pool


async def submit(pool: str, spec: dict[str, Any], kube_api: str) -> None:
    from kubernetes_asyncio.client import ApiClient, Configuration
    from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerJobConfiguration

    async with KubernetesWorker(work_pool_name=pool) as worker:
        client = worker.client
        flow_id = await client.create_flow_from_name(spec["flow"])
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name=spec["deployment"],
            work_pool_name=pool,
            job_variables=spec["job_variables"],
            entrypoint="flows.py:main",
        )
        flow_run = await client.create_flow_run_from_deployment(deployment_id)
        flow_run = await client.read_flow_run(flow_run.id)
        assert worker.work_pool is not None
        configuration = await KubernetesWorkerJobConfiguration.resolve_for_flow_run(
            flow_run, client=client, work_pool=worker.work_pool, worker_name=worker.name, worker_id=worker.backend_id
        )
        async with ApiClient(Configuration(host=kube_api)) as api:
            await worker._create_job(configuration, api)
        print(json.dumps({"flow_run": str(flow_run.id), "deployment": str(deployment_id)}))


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    pool = spec["pool"]
    asyncio.run(create_pool(pool, json.loads(Path(spec["template"]).read_text())))
    init = spec["init"]
    proc = subprocess.run(init["argv"], env=init["env"], cwd=init["cwd"], capture_output=True, text=True, timeout=300)
    print(json.dumps({"init": proc.returncode, "output": proc.stdout + proc.stderr}))
    if proc.returncode == 0:
        asyncio.run(submit(pool, spec, spec["kube_api"]))


if __name__ == "__main__":
    main()
