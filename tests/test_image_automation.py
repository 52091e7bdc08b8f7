"""Image automation as a co-owner: values Flux wrote behind setter markers survive generate, --check and
upgrade moves them on purpose; image updates go through a merge request by default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

from gitopsgen.generate.coowned import Policy, keep, same

PREFECT_YAML = "clusters/cluster-2/prefect/prefect.yaml"
AUTOMATION = "clusters/cluster-2/prefect/image-update-automation.yaml"
FLOWS = "harbor.example.com/data/flows"


def flux_commit(root: Path, values: dict[str, str], relayout: bool = False) -> None:
    """What the ImageUpdateAutomation does: rewrite the values behind the setter markers (and, with
    ``relayout``, lay the lines out as Go's YAML writer does: plain scalars, one space before the comment)."""
    path = root / PREFECT_YAML
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        m = re.match(r'^(\s*)([a-z_]+): "([^"]*)"\s*(# \{"\$imagepolicy".*)$', line.rstrip("\n"))
        if m and m[2] in values:
            value = values[m[2]]
            line = f"{m[1]}{m[2]}: {value if relayout else f'{chr(34)}{value}{chr(34)}'} {m[4]}\n"
        elif m and relayout:
            line = f"{m[1]}{m[2]}: {m[3]} {m[4]}\n"
        lines.append(line)
    path.write_text("".join(lines))


def substitute(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for doc in yaml.safe_load_all((root / PREFECT_YAML).read_text()):
        if doc:
            out.update(doc["spec"].get("postBuild", {}).get("substitute", {}))
    return out


BUMP = {
    "prefect_server_tag": "3.8.5-python3.11",
    "prefect_worker_tag": "3.8.5-python3.11-kubernetes",
    "flow_image_etl": f"{FLOWS}:1.5.0",
}


@pytest.mark.parametrize("relayout", [False, True], ids=["same-layout", "go-yaml-layout"])
def test_a_flux_bump_is_kept_by_generate_and_not_drift(fleet: Path, relayout: bool) -> None:
    flux_commit(fleet, BUMP, relayout)
    bumped = (fleet / PREFECT_YAML).read_text()
    check = run_cli("generate", "--check", "--repo", str(fleet))
    assert check.returncode == 0, check.stdout + check.stderr
    run_cli("generate", "--repo", str(fleet), check=True)
    assert (fleet / PREFECT_YAML).read_text() == bumped
    assert substitute(fleet)["flow_image_ml"] == f"{FLOWS}:1.4.2"  # not bumped: rendered from the intent


def test_upgrade_moves_the_prefect_tags_on_purpose_and_keeps_flow_images(fleet: Path) -> None:
    flux_commit(fleet, BUMP)
    proc = run_cli("upgrade", "--prefect", "3.8.4", "--repo", str(fleet), check=True)
    assert (
        "cluster-2: image automation had moved prefect_server_tag to 3.8.5-python3.11; the upgrade sets "
        "3.8.4-python3.11" in proc.stderr
    )
    values = substitute(fleet)
    assert values["prefect_server_tag"] == "3.8.4-python3.11"
    assert values["prefect_worker_tag"] == "3.8.4-python3.11-kubernetes"
    assert values["flow_image_etl"] == f"{FLOWS}:1.5.0"
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0
    # a chart-only upgrade leaves what Flux wrote alone
    flux_commit(fleet, {"prefect_server_tag": "3.8.6-python3.11"})
    run_cli("upgrade", "--chart", "2026.9.2143015", "--repo", str(fleet), check=True)
    assert substitute(fleet)["prefect_server_tag"] == "3.8.6-python3.11"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("flow_image_etl", f"{FLOWS}:2.0.0"),  # outside '>=1.4.0 <2.0.0'
        ("flow_image_etl", "harbor.example.com/other/flows:1.5.0"),  # another repository
        ("prefect_server_tag", "3.9.0-python3.11"),  # outside ~3.8.3
        ("prefect_server_tag", "3.8.5-python3.12"),  # not the policy's tag pattern
        ("prefect_worker_tag", "3.8.2-python3.11-kubernetes"),  # older than the intent
    ],
)
def test_a_value_the_policy_would_not_write_is_drift(fleet: Path, key: str, value: str) -> None:
    rendered = substitute(fleet)[key]
    flux_commit(fleet, {key: value})
    check = run_cli("generate", "--check", "--repo", str(fleet))
    assert check.returncode == 1 and PREFECT_YAML in check.stdout
    run_cli("generate", "--repo", str(fleet), check=True)
    assert substitute(fleet)[key] == rendered


def test_a_value_moved_on_by_the_intent_wins_over_an_older_kept_one(fleet: Path) -> None:
    flux_commit(fleet, {"flow_image_etl": f"{FLOWS}:1.5.0"})
    intent = fleet / "intent/clusters/cluster-2.yaml"
    intent.write_text(intent.read_text().replace("flowImageTag: 1.4.2", "flowImageTag: 1.6.0", 1))
    run_cli("generate", "--repo", str(fleet), check=True)
    assert substitute(fleet)["flow_image_etl"] == f"{FLOWS}:1.6.0"


def test_a_removed_marker_is_drift(fleet: Path) -> None:
    path = fleet / PREFECT_YAML
    path.write_text(re.sub(r' *# \{"\$imagepolicy": "flux-system:flow-etl"\}', "", path.read_text()))
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 1


def automation_push(root: Path) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all((root / AUTOMATION).read_text()) if d]
    return doc["spec"]["git"]


def test_image_updates_go_to_a_merge_request_by_default(fleet: Path) -> None:
    git = automation_push(fleet)
    assert git["checkout"] == {"ref": {"branch": "main"}}
    assert git["push"] == {
        "branch": "image-updates/cluster-2",
        "options": {
            "merge_request.create": "",
            "merge_request.target": "main",
            "merge_request.title": "Image updates of cluster cluster-2",
            "merge_request.remove_source_branch": "",
        },
    }


def test_direct_push_is_an_opt_in_per_cluster_or_fleet(fleet: Path) -> None:
    intent = fleet / "intent/clusters/cluster-2.yaml"
    intent.write_text(intent.read_text().replace("  enabled: true\n", "  enabled: true\n  push: direct\n"))
    run_cli("generate", "--repo", str(fleet), check=True)
    assert automation_push(fleet)["push"] == {"branch": "main"}
    intent.write_text(intent.read_text().replace("  push: direct\n", ""))
    fleet_file = fleet / "gitopsgen.yaml"
    fleet_file.write_text(
        fleet_file.read_text().replace("imageAutomation:\n", "imageAutomation:\n  pushBranch: flux/{cluster}-images\n")
    )
    run_cli("generate", "--repo", str(fleet), check=True)
    assert automation_push(fleet)["push"]["branch"] == "flux/cluster-2-images"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("push: merge-request", "push: sideways"), "choose one of merge-request, direct"),
        (("imageAutomation:\n", "imageAutomation:\n  pushBranch: images\n"), "needs '{cluster}'"),
        (("imageAutomation:\n", "imageAutomation:\n  pushBranch: 'a..{cluster}'\n"), "pushBranch"),
    ],
)
def test_bad_push_settings_are_refused(fleet: Path, edit: tuple[str, str], message: str) -> None:
    fleet_file = fleet / "gitopsgen.yaml"
    fleet_file.write_text(fleet_file.read_text().replace(*edit))
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_keep_unit() -> None:
    policies = {"p": Policy(">=1.0.0 <2.0.0", repository="r.example.com/x")}
    rendered = 'a:\n  v: "r.example.com/x:1.0.0"  # {"$imagepolicy": "flux-system:p"}\n'
    disk = 'a:\n  v: r.example.com/x:1.2.0 # {"$imagepolicy": "flux-system:p"}\n'
    kept = keep(rendered, disk, policies)
    assert kept == 'a:\n  v: "r.example.com/x:1.2.0"  # {"$imagepolicy": "flux-system:p"}\n'
    assert same(kept, disk) and not same(rendered, disk)
    assert keep(rendered, disk, policies, override={"p"}) == rendered
    assert keep(rendered, None, policies) == rendered
    assert keep(rendered, disk.replace("# {", '# {"x": 1, '), policies) == rendered  # another marker
