"""The schema stage: every object against the schema of its kind, and the CRD cache.

Owns rules K001-K007. Kubernetes built-in kinds are checked strictly (unknown fields are errors)
against the schemas bundled in ``kubernetes-validate`` for the chosen Kubernetes version; custom
kinds against the ``openAPIV3Schema`` of every served version of their CustomResourceDefinition,
made strict the way the API server treats it, plus the CRD's CEL ``x-kubernetes-validations``.
API versions that Kubernetes or Flux no longer serve are named as removed, with their replacement;
kinds without any schema are reported once. CRDs take precedence the way an API server gives it:
a built-in kind is never redefined, and a CRD given by the user (``--crds``) wins over a repository's
CRD of the same group and kind (the repository is untrusted in a merge request); a refused
repository CRD is a finding (K006, K007), never a schema.

Everything expensive happens once per process: each Kubernetes version's ``_definitions.json`` is
read once, one jsonschema validator is compiled per (version, apiVersion, kind) and per distinct CRD
version schema, and each CEL rule is compiled once. :data:`STATS` counts these loads so tests (and
benchmarks) can see it.
"""

from __future__ import annotations

from .builtin import kubernetes_versions, normalise_kubernetes_version
from .crds import crd_cache_dir, read_yaml_documents
from .rules import K001, K002, K003, K004, K005, K006, K007, STATS, JsonPath, SchemaIssue
from .store import SchemaStore

__all__ = [
    "K001",
    "K002",
    "K003",
    "K004",
    "K005",
    "K006",
    "K007",
    "STATS",
    "JsonPath",
    "SchemaIssue",
    "SchemaStore",
    "crd_cache_dir",
    "kubernetes_versions",
    "normalise_kubernetes_version",
    "read_yaml_documents",
]
