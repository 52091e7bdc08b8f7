"""The rules the build stage reports (stage 3: what Flux would apply, :mod:`.build`): substitution, SOPS
decryption, Flux Kustomization paths and sources."""

from __future__ import annotations

from .findings import Rule, Severity

B003 = Rule(
    "B003",
    "undefined-substitution-variable",
    "build",
    Severity.ERROR,
    "A ${VAR} in a Flux Kustomization's output has no value and no default.",
    "Flux v2.9 substitutes postBuild variables strictly: a ${VAR} that is defined neither in "
    "postBuild.substitute nor in a substituteFrom ConfigMap or Secret, and has no default (${VAR:=default}), "
    "fails the whole Kustomization, so none of its objects is applied. Malformed expressions fail the same way. "
    "Write $${VAR} for a literal ${VAR}, or disable substitution on the object with the annotation "
    "kustomize.toolkit.fluxcd.io/substitute: disabled.",
)
B004 = Rule(
    "B004",
    "substitute-from-missing",
    "build",
    Severity.WARNING,
    "A postBuild.substituteFrom ConfigMap or Secret is not found in the repository.",
    "kustomize-controller fails a Kustomization whose non-optional substituteFrom source does not exist in the "
    "cluster. The validator looks for it among the objects the cluster's Flux applies and the repository's "
    "manifests; a Secret that an ExternalSecret, ClusterExternalSecret or SealedSecret provides counts as "
    "present (its keys are not known, so no variable of it is reported undefined). When it is not there it "
    "may still be created out of band (by a bootstrap script, a Terraform "
    "module), so this is a warning, and the variables it would define cannot be checked: undefined-variable "
    "findings of that Kustomization are not reported. Mark the reference optional: true if it may be absent.",
)
B005 = Rule(
    "B005",
    "sops-without-decryption",
    "build",
    Severity.ERROR,
    "A SOPS-encrypted manifest is applied by a Flux Kustomization without spec.decryption.",
    "kustomize-controller decrypts SOPS-encrypted manifests only when the Flux Kustomization that applies them "
    "has spec.decryption (provider: sops, with a secretRef holding the age or PGP key unless the controller has "
    "one). Without it, the encrypted document (ENC[...] values and a sops: field) is sent to the API server as "
    "is and rejected, and the Kustomization fails.",
)
F001 = Rule(
    "F001",
    "path-not-found",
    "flux",
    Severity.ERROR,
    "A Flux Kustomization's spec.path does not exist in its source.",
    "kustomize-controller fails a Kustomization whose spec.path is not a directory of the source artifact "
    "('kustomization path not found'). For Kustomizations whose source is this repository, the validator checks "
    "the path exists, is a directory and stays inside the repository.",
)

F005 = Rule(
    "F005",
    "source-not-in-repository",
    "flux",
    Severity.INFO,
    "A Flux Kustomization builds from a source that is not this repository: it is not built.",
    "A Kustomization whose sourceRef is a GitRepository of another repository (or another branch of a URL "
    "that is not this one), an OCIRepository, a Bucket, or an ExternalArtifact that no ArtifactGenerator of "
    "this repository makes, applies content the validator does not have. It is applied as an object (its own "
    "fields are checked) but what it would build is not. One finding per source and cluster, at the first "
    "Kustomization that uses it. Validate that repository on its own, or name an entry with --entry.",
)
