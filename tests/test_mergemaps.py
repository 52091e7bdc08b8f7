"""The two ways Helm values are merged (gitopsgen.mergemaps): helm-controller's layering keeps a null,
Helm's coalescing over chart defaults deletes the key."""

from __future__ import annotations

from gitopsgen.mergemaps import coalesce, merge_maps

BASE = {"server": {"image": {"tag": "3.8.3", "pullPolicy": "IfNotPresent"}, "replicas": 1}, "list": [1, 2]}


def test_merge_maps_layers_mappings_and_keeps_null() -> None:
    over = {"server": {"image": {"tag": "3.8.4", "pullPolicy": None}}, "list": [3]}
    merged = merge_maps(BASE, over)
    assert merged == {"server": {"image": {"tag": "3.8.4", "pullPolicy": None}, "replicas": 1}, "list": [3]}
    assert BASE["server"]["image"]["tag"] == "3.8.3"  # arguments unchanged
    merged["list"].append(4)
    assert over["list"] == [3]  # values taken from ``over`` are copies


def test_merge_maps_replaces_a_mapping_with_a_scalar_and_back() -> None:
    assert merge_maps({"a": {"b": 1}}, {"a": "x"}) == {"a": "x"}
    assert merge_maps({"a": "x"}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_coalesce_deletes_a_key_on_null() -> None:
    over = {"server": {"image": {"pullPolicy": None}, "replicas": None}, "absent": None}
    assert coalesce(BASE, over) == {"server": {"image": {"tag": "3.8.3"}}, "list": [1, 2]}
    assert BASE["server"]["replicas"] == 1
