"""Command-line options → intent (gitopsgen.generate.options): pure functions, no files, no subprocess."""

from __future__ import annotations

import pytest

from gitopsgen.errors import InputError
from gitopsgen.generate import intent as it
from gitopsgen.generate.options import (
    build_cluster,
    fleet_from_options,
    lowest_version,
    parse_pool,
    pool_dict,
    server_from_options,
    split_image,
)


def test_split_image_keeps_a_registry_port_in_the_repository() -> None:
    assert split_image("harbor:5000/data/flows:1.4.2", "flow image") == ("harbor:5000/data/flows", "1.4.2")
    assert split_image("harbor:5000/data/flows", "flow image") == ("harbor:5000/data/flows", None)
    with pytest.raises(InputError, match="not a digest"):
        split_image("harbor/flows@sha256:abc", "flow image")


def test_lowest_version_of_a_range() -> None:
    assert lowest_version(">=1.2.0 <2.0.0") == "1.2.0"
    assert lowest_version("^v3.4.5") == "3.4.5"
    assert lowest_version("<2.0.0") is None


def test_parse_pool_reads_every_key() -> None:
    pool = parse_pool(
        "etl:queues=high+default,replicas=2,namespace=prefect-etl,ttl=60,cpu=2,memory=8Gi,cpu-limit=4,"
        "memory-limit=16Gi,flow-image=harbor.example.com/data/flows:1.4.2",
        {},
    )
    assert (pool.name, pool.queues, pool.replicas, pool.namespace) == ("etl", ["high", "default"], 2, "prefect-etl")
    assert (pool.finished_job_ttl, pool.cpu_request, pool.memory_request) == (60, "2", "8Gi")
    assert (pool.cpu_limit, pool.memory_limit) == ("4", "16Gi")
    assert (pool.flow_image, pool.flow_image_tag) == ("harbor.example.com/data/flows", "1.4.2")


def test_parse_pool_namespaces_first_is_the_default() -> None:
    pool = parse_pool("ml:namespaces=a+b+c", {})
    assert pool.namespace == "a" and pool.namespaces == ["b", "c"]
    assert parse_pool("ml:namespace=b,namespaces=a+b", {}).namespaces == ["a"]


def test_parse_pool_memory_limit_follows_a_larger_request_only() -> None:
    default_limit = it.WorkPoolIntent.memory_limit
    assert parse_pool("p:memory=64Gi", {}).memory_limit == "64Gi"
    assert parse_pool("p:memory=1Mi", {}).memory_limit == default_limit
    assert parse_pool("p:memory=64Gi,memory-limit=128Gi", {}).memory_limit == "128Gi"


def test_parse_pool_tag_from_the_policy_when_the_image_has_none() -> None:
    pool = parse_pool("p:flow-image=harbor.example.com/flows,policy=>=1.4.0 <2.0.0", {})
    assert (pool.flow_image_tag, pool.flow_image_policy) == ("1.4.0", ">=1.4.0 <2.0.0")


@pytest.mark.parametrize(
    ("spec", "message"),
    [("p:colour=red", "not KEY=VALUE"), ("p:replicas=two", "replicas 'two' is not an integer"), ("p:queues", "KEY")],
)
def test_parse_pool_refuses_bad_items(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_pool(spec, {})


def test_server_options_ha_single_and_redis() -> None:
    ha = server_from_options(it.ServerIntent(), {"server_mode": "ha", "redis": "redis.example.com:6380"})
    assert (ha.mode, ha.replicas) == ("ha", 2)
    assert ha.redis is not None and (ha.redis.host, ha.redis.port) == ("redis.example.com", 6380)
    single = server_from_options(ha, {"server_mode": "single"})
    assert (single.mode, single.replicas, single.redis, single.database) == ("single", 1, None, None)
    with pytest.raises(InputError, match="port 'x' is not a number"):
        server_from_options(it.ServerIntent(), {"redis": "h:x"})
    with pytest.raises(InputError, match="need --ingress-host"):
        server_from_options(it.ServerIntent(), {"tls_secret": "tls"})


def test_build_cluster_defaults() -> None:
    c = build_cluster("c1", None, {})
    assert c.name == "c1" and c.cluster_uid == it.default_cluster_uid("c1")
    assert [p.name for p in c.worker_pools] == ["default"]
    assert c.image_automation.enabled is it.ImageAutomationIntent().enabled


def test_build_cluster_image_policy_turns_automation_on() -> None:
    c = build_cluster("c1", None, {"image_policy": ">=1.0.0", "flow_image": "harbor.example.com/flows"})
    assert c.image_automation.enabled
    assert c.worker_pools[0].flow_image_tag == "1.0.0"


def test_build_cluster_from_a_template_keeps_what_the_options_do_not_give() -> None:
    template = build_cluster(
        "c1",
        None,
        {
            "server_mode": "ha",
            "redis": "bundled",
            "redis_secret": "r",
            "database_secret": "db",
            "ingress_host": "prefect.c1.example.com",
            "ingress_class": "nginx",
            "worker_pool": ("etl:replicas=3",),
        },
    )
    with pytest.raises(InputError, match="give c2 its own"):
        build_cluster("c2", template, {})
    c2 = build_cluster(
        "c2", template, {"ingress_host": "prefect.c2.example.com", "flow_image": "h.example.com/f:2.0.0"}
    )
    assert c2.server.ingress is not None
    assert (c2.server.ingress.host, c2.server.ingress.class_name) == ("prefect.c2.example.com", "nginx")
    assert c2.server.database == template.server.database and c2.cluster_uid == it.default_cluster_uid("c2")
    assert [(p.name, p.replicas, p.flow_image_tag) for p in c2.worker_pools] == [("etl", 3, "2.0.0")]


def test_pool_dict_round_trips_through_parse_pool() -> None:
    pool = parse_pool("etl:replicas=2,flow-image=harbor.example.com/flows:1.2.3", {})
    assert parse_pool("etl", pool_dict(pool)) == pool


def test_fleet_from_options() -> None:
    fleet = fleet_from_options(
        {
            "git_url": "ssh://git@gitlab.example.com/p/fleet.git",
            "registry_host": "harbor.example.com",
            "secret_store": "vault",
            "chart_version": "2026.1.1",
        },
        "9.9.9",
    )
    assert (fleet.git.url, fleet.registry.host, fleet.registry.secret_store) == (
        "ssh://git@gitlab.example.com/p/fleet.git",
        "harbor.example.com",
        "vault",
    )
    assert fleet.chart.version == "2026.1.1" and fleet.generator_version == "9.9.9"
    assert fleet.git.branch == it.GitSettings().branch
    with pytest.raises(InputError):
        fleet_from_options({"registry_host": "Not A Host"}, "9.9.9")
