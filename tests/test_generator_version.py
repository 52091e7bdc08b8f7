"""``generatorVersion``: init records the release, ``generate --check`` names another release instead of a diff,
``generate`` records the release that wrote the tree and refuses a tree a newer release recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import CLUSTER_1, INIT_ARGS, make_repo, run_cli

from gitopsgen import __version__
from gitopsgen.generate.generatorversion import check_mismatch, newer_than_running


@pytest.fixture
def small_fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet"
    path.mkdir()
    make_repo(path)
    for args in (INIT_ARGS, CLUSTER_1):
        run_cli(*args, "--repo", str(path), check=True)
    return path


def recorded(fleet: Path) -> str | None:
    return yaml.safe_load((fleet / "gitopsgen.yaml").read_text()).get("generatorVersion")


def set_recorded(fleet: Path, version: str) -> None:
    path = fleet / "gitopsgen.yaml"
    path.write_text(path.read_text().replace(f"generatorVersion: {__version__}", f"generatorVersion: {version}"))
    assert recorded(fleet) == version


def test_init_records_the_running_release(small_fleet: Path) -> None:
    assert recorded(small_fleet) == __version__
    assert run_cli("generate", "--check", "--repo", str(small_fleet)).returncode == 0


def test_check_names_another_release_without_a_diff(small_fleet: Path) -> None:
    set_recorded(small_fleet, "0.0.9")
    proc = run_cli("generate", "--check", "--repo", str(small_fleet))
    assert proc.returncode == 1 and proc.stdout == ""
    assert "generatorVersion 0.0.9" in proc.stderr and f"this is gitopsgen {__version__}" in proc.stderr
    assert "gitopsgen==0.0.9" in proc.stderr


def test_generate_records_its_release_keeping_comments(small_fleet: Path) -> None:
    path = small_fleet / "gitopsgen.yaml"
    path.write_text("# our fleet, hands off\n" + path.read_text().replace(f"generatorVersion: {__version__}\n", ""))
    assert recorded(small_fleet) is None
    run_cli("generate", "--repo", str(small_fleet), check=True)
    assert recorded(small_fleet) == __version__
    assert path.read_text().startswith("# our fleet, hands off\n")
    assert run_cli("generate", "--check", "--repo", str(small_fleet)).returncode == 0


def test_generate_refuses_a_tree_of_a_newer_release(small_fleet: Path) -> None:
    set_recorded(small_fleet, "999.0.0")
    before = (small_fleet / "gitopsgen.yaml").read_text()
    proc = run_cli("generate", "--repo", str(small_fleet))
    assert proc.returncode == 2 and "newer than this gitopsgen" in proc.stderr
    assert (small_fleet / "gitopsgen.yaml").read_text() == before


def test_release_comparison() -> None:
    assert newer_than_running("0.2.0", "0.1.9") and not newer_than_running("0.1.0", "0.1.0")
    assert not newer_than_running("0.1.0", "0+unknown") and not newer_than_running("0+unknown", "0.1.0")
    assert check_mismatch(None, "0.1.0") is None and check_mismatch("0.1.0", "0.1.0") is None
