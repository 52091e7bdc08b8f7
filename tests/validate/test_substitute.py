"""postBuild substitution as kustomize-controller runs it (fluxcd/pkg/envsubst, a fork of drone/envsubst,
strict): the expected values below are what that library gives (its parse rules and ``toDefault``)."""

from __future__ import annotations

import pytest
import yaml

from gitopsgen.validate.load import KubeLoader
from gitopsgen.validate.substitute import substitute_object, substitute_text

VARS = {"A": "alpha", "B": "bee", "EMPTY": "", "PATH": "/usr/local/bin", "N": "3"}


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("${A}", "alpha"),
        ("x ${A} ${B} y", "x alpha bee y"),
        ("${U:=x}", "x"),
        ("${U:-x}", "x"),
        ("${U=x}", "x"),
        ("${EMPTY:-empty}", "empty"),
        ("${EMPTY=empty}", "empty"),  # toDefault: an empty value takes the default, with or without the colon
        ("${A:+other}", "alpha"),  # toDefault again: no bash-style alternate value
        ("${U:=${B}}", "bee"),  # nested defaults
        ("${U:=${V:-deep}}", "deep"),
        ("${A:=${B}}", "alpha"),
        ("$${A}", "${A}"),  # $$ is a literal $
        ("a$$b", "a$b"),
        ("$A stays", "$A stays"),
        ("${A^^}", "ALPHA"),
        ("${A^}", "Alpha"),
        ("${#A}", "5"),
        ("${A:1:2}", "lp"),
        ("${A:2}", "pha"),
        ("${A#a}", "lpha"),
        ("${PATH##*/}", "bin"),
        ("${PATH%/*}", "/usr/local"),
        ("${A/l/L}", "aLpha"),
        ("${A//a/${B}}", "beelphbee"),
        ("${PATH//\\//-}", "-usr-local-bin"),
        ("${A/#al/AL}", "ALpha"),
        ("${A/%ha/HA}", "alpHA"),
    ],
)
def test_as_the_library_evaluates(text: str, out: str) -> None:
    outcome = substitute_text(text, VARS)
    assert (outcome.text, outcome.undefined, outcome.invalid) == (out, [], [])


@pytest.mark.parametrize(
    ("text", "undefined"),
    [
        ("${U}", ["U"]),
        ("${U^^}", ["U"]),  # an operator that reads the value: strict
        ("${A:=${NOPE}}", ["NOPE"]),  # arguments are evaluated first, even when the default is not used
        ("${U:-${NOPE}}", ["NOPE"]),
    ],
)
def test_strict_mode_fails_on_unset_variables(text: str, undefined: list[str]) -> None:
    outcome = substitute_text(text, VARS)
    assert outcome.undefined == undefined and outcome.text == text


@pytest.mark.parametrize("text", ["${U-x}", "${U+x}", "${A", "${}", "${A:=${B}"])
def test_what_the_library_does_not_parse_fails(text: str) -> None:
    outcome = substitute_text(text, VARS)
    assert outcome.invalid and outcome.text == text


def test_numbers_stay_numbers_and_disabled_objects_are_left_alone() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {"replicas": "${N}"}}
    new, outcome = substitute_object(obj, VARS)
    assert new["spec"]["replicas"] == 3 and not outcome.undefined  # the YAML text is substituted: a number
    disabled = {**obj, "metadata": {"name": "x", "annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}}
    assert substitute_object(disabled, {})[0] is disabled


def test_yaml_as_kustomize_writes_it() -> None:
    """go-yaml writes a bare ``=`` (PyYAML's YAML 1.1 ``value`` tag) and leaves timestamps as strings."""
    assert yaml.load("a: =\nb: 2024-01-01\nc: 1\n", Loader=KubeLoader) == {"a": "=", "b": "2024-01-01", "c": 1}
