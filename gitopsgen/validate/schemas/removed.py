"""API versions no longer served, as data: Kubernetes removals older than the oldest bundled schema
version, and the Flux v2.9 API versions retired per group with the version each kind is served at.
"""

from __future__ import annotations

# Removals from before the oldest Kubernetes version kubernetes-validate bundles, one row per change:
# (apiVersions, kinds, the Kubernetes release that removed them, the replacement apiVersion or a hint).
K8S_OLD_REMOVAL_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("extensions/v1beta1 apps/v1beta1 apps/v1beta2", "Deployment ReplicaSet DaemonSet", "1.16", "apps/v1"),
    ("apps/v1beta1 apps/v1beta2", "StatefulSet ControllerRevision", "1.16", "apps/v1"),
    ("extensions/v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1"),
    ("extensions/v1beta1", "PodSecurityPolicy", "1.16", "Pod Security Admission"),
    ("extensions/v1beta1 networking.k8s.io/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "IngressClass", "1.22", "networking.k8s.io/v1"),
    (
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration ValidatingWebhookConfiguration",
        "1.22",
        "admissionregistration.k8s.io/v1",
    ),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22", "apiextensions.k8s.io/v1"),
    ("apiregistration.k8s.io/v1beta1", "APIService", "1.22", "apiregistration.k8s.io/v1"),
    ("authentication.k8s.io/v1beta1", "TokenReview", "1.22", "authentication.k8s.io/v1"),
    (
        "authorization.k8s.io/v1beta1",
        "SubjectAccessReview LocalSubjectAccessReview SelfSubjectAccessReview SelfSubjectRulesReview",
        "1.22",
        "authorization.k8s.io/v1",
    ),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.22", "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "Lease", "1.22", "coordination.k8s.io/v1"),
    (
        "rbac.authorization.k8s.io/v1beta1 rbac.authorization.k8s.io/v1alpha1",
        "ClusterRole ClusterRoleBinding Role RoleBinding",
        "1.22",
        "rbac.authorization.k8s.io/v1",
    ),
    ("scheduling.k8s.io/v1beta1 scheduling.k8s.io/v1alpha1", "PriorityClass", "1.22", "scheduling.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIDriver CSINode StorageClass VolumeAttachment", "1.22", "storage.k8s.io/v1"),
    ("batch/v1beta1", "CronJob", "1.25", "batch/v1"),
    ("discovery.k8s.io/v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "Event", "1.25", "events.k8s.io/v1"),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "autoscaling/v2"),
    ("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"),
    ("policy/v1beta1", "PodSecurityPolicy", "1.25", "Pod Security Admission"),
    ("node.k8s.io/v1beta1", "RuntimeClass", "1.25", "node.k8s.io/v1"),
)
# (apiVersion, kind) → (release that removed it, replacement); a later row wins
K8S_OLD_REMOVALS: dict[tuple[str, str], tuple[str, str]] = {
    (api, kind): (release, replacement)
    for apis, kinds, release, replacement in K8S_OLD_REMOVAL_ROWS
    for api in apis.split()
    for kind in kinds.split()
}


# Flux v2.9: API versions retired per group, and the version each kind is served at.
FLUX_RETIRED: dict[str, frozenset[str]] = {
    "source.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1beta1", "v1beta2"}),
    "kustomize.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1beta1", "v1beta2"}),
    "helm.toolkit.fluxcd.io": frozenset({"v2alpha1", "v2beta1", "v2beta2"}),
    "image.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1alpha2", "v1beta1", "v1beta2"}),
    "notification.toolkit.fluxcd.io": frozenset({"v1alpha1", "v1beta1", "v1beta2"}),
}
FLUX_SERVED: dict[tuple[str, str], str] = {
    **{
        ("source.toolkit.fluxcd.io", k): "v1"
        for k in ("GitRepository", "HelmRepository", "HelmChart", "Bucket", "OCIRepository")
    },
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): "v1",
    ("helm.toolkit.fluxcd.io", "HelmRelease"): "v2",
    **{("image.toolkit.fluxcd.io", k): "v1" for k in ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")},
    ("notification.toolkit.fluxcd.io", "Alert"): "v1beta3",
    ("notification.toolkit.fluxcd.io", "Provider"): "v1beta3",
    ("notification.toolkit.fluxcd.io", "Receiver"): "v1",
}


# Groups of files that configure a build rather than being applied (kustomization.yaml, Components).
BUILD_INPUT_GROUPS = frozenset({"kustomize.config.k8s.io"})
