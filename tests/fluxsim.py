"""Test-side stand-ins for what Flux does to a cluster's tree, built on real tools only.

``kubectl kustomize`` builds each Flux Kustomization's path; postBuild substitution follows Flux's
strict mode (an undefined ``${VAR}`` fails); charts are pulled over HTTP and rendered in-process by
helm-python-sdk; objects are checked by kubernetes-validate (strict) and by the CRDs' own
openAPIV3Schema with unknown fields forbidden, as the API server prunes/rejects them.
"""

from __future__ import annotations

import copy
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import helm_python
import jsonschema
import kubernetes_validate
import yaml

K8S_VERSION = "1.33"
_VAR = re.compile(r"\$\{([^}]*)\}")


def kustomize_build(path: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def substitute(text: str, variables: dict[str, str]) -> str:
    missing = sorted({m for m in _VAR.findall(text) if m not in variables})
    if missing:
        raise AssertionError(f"undefined postBuild variables: {missing}")
    return _VAR.sub(lambda m: variables[m.group(1)], text)


def build_flux_kustomization(root: Path, ks: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects a Flux Kustomization applies: kustomize build, then strict substitution."""
    path = root / ks["spec"]["path"]
    docs = kustomize_build(path)
    variables = ks["spec"].get("postBuild", {}).get("substitute", {})
    text = substitute(yaml.safe_dump_all(docs, sort_keys=False), {k: str(v) for k, v in variables.items()})
    docs = [d for d in yaml.safe_load_all(text) if d]
    for d in docs:
        ns = ks["spec"].get("targetNamespace")
        if ns:
            d["metadata"]["namespace"] = ns
    return docs


# ---------------------------------------------------------------- CRD schemas


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        if out.get("nullable"):
            t = out.get("type")
            if isinstance(t, str):
                out["type"] = [t, "null"]
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _cel_program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def cel_errors(schema: Any, value: Any, path: str = "") -> list[str]:
    """Evaluate the CRD's x-kubernetes-validations (CEL) rules wherever the object has a value.

    Like the API server, rules run against the object as given (server-side defaults are not applied).
    """
    errors: list[str] = []
    if not isinstance(schema, dict):
        return errors
    for rule in schema.get("x-kubernetes-validations", []):
        result = _cel_program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)})
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            errors.append(f"{path or '/'}: {rule.get('message', rule['rule'])}")
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            errors += cel_errors(sub, item, f"{path}/{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += cel_errors(schema["items"], item, f"{path}/{index}")
    return errors


@cache
def crd_schemas(*directories: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON schema, for every served version of every CRD found."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for directory in directories:
        for f in sorted(directory.glob("*.yaml")):
            for crd in yaml.safe_load_all(f.read_text()):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for v in crd["spec"]["versions"]:
                    if v.get("served"):
                        schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
                        out[(f"{group}/{v['name']}", kind)] = _strict(schema)
    return out


def validate_object(obj: dict[str, Any], crds: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """All schema errors of one object (Kubernetes built-ins strictly, custom kinds by their CRD)."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    name = f"{key[1]} {obj.get('metadata', {}).get('namespace', '')}/{obj.get('metadata', {}).get('name')}"
    if key in crds:
        validator = jsonschema.Draft7Validator(crds[key])
        errors = [f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
        return errors + [f"{name}: CEL {e}" for e in cel_errors(crds[key], obj)]
    if "." in key[0].split("/")[0] and not key[0].split("/")[0].endswith(".k8s.io"):
        return [f"{name}: no CRD schema for {key[0]} {key[1]}"]
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{name}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{name}: {exc}"]
    return []


# ---------------------------------------------------------------- Helm


@cache
def pull_chart(repo_url: str, chart: str, version: str, destination: str) -> str:
    Path(destination).mkdir(parents=True, exist_ok=True)
    result = helm_python.pull(chart, repo_url=repo_url, version=version, destination=destination)
    archive = Path(destination) / f"{chart}-{version}.tgz"
    assert archive.is_file(), result
    return str(archive)


def render_release(
    hr: dict[str, Any], repositories: dict[str, str], mirror: dict[str, str], cache_dir: Path
) -> list[dict[str, Any]]:
    """Render a HelmRelease like helm-controller: chart from its HelmRepository, values, release name."""
    spec = hr["spec"]["chart"]["spec"]
    ref = spec["sourceRef"]
    url = repositories[f"{ref.get('namespace', hr['metadata']['namespace'])}/{ref['name']}"]
    archive = pull_chart(mirror.get(url, url), spec["chart"], spec["version"], str(cache_dir))
    values = hr["spec"].get("values", {})
    with helm_python.Chart.load(archive) as chart:
        chart.validate_schema(values)
        manifests = chart.render(
            values,
            name=hr["spec"].get("releaseName", hr["metadata"]["name"]),
            namespace=hr["spec"].get("targetNamespace", hr["metadata"]["namespace"]),
            is_install=True,
        )
    docs: list[dict[str, Any]] = []
    for template, text in sorted(manifests.items()):
        if not template.endswith((".yaml", ".yml")):
            continue
        for d in yaml.safe_load_all(text):
            if d:
                docs.append(d)
    return docs
