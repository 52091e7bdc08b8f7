"""Every rule of the validator, listed by hand: the stages' rules (declared next to the code that emits them,
a constant named by the rule's ID) and the semantic rule modules of :mod:`.rules` (each one's ``RULE``).

Nothing registers itself on import: a rule is in the catalogue because it is written here, and
``tests/test_architecture.py`` fails when a module declares a rule this list lacks. The catalogue is what
``gitopsgen rules`` and ``docs/rules.md`` show, what the engine runs (:func:`checks`) and how it knows an
unknown rule ID in the configuration (:func:`check_rule_ids`).
"""

from __future__ import annotations

from types import ModuleType

from ..errors import InputError
from .build import B003, B004, B005, F001, F005
from .charts import H001
from .config import Settings
from .coverage import F006
from .findings import Rule
from .helmrender import H002, H003
from .helmstage import H004, H005, H007
from .helmworker import H006
from .kustomize import B001, B002
from .load import Y002, Y004
from .rawfile import Y001, Y003
from .rules import (
    CLUSTER,
    REPOSITORY,
    Check,
    f002_source_not_found,
    f003_depends_on_missing,
    f004_depends_on_cycle,
    f007_update_path_not_found,
    g001_generated_drift,
    k008_invalid_object_name,
    p001_prefect_worker_api_url,
    p002_prefect_auth_secret_mismatch,
    p003_prefect_ha_requirements,
    p004_prefect_ui_api_url,
    p005_flow_run_job_reference_missing,
    p006_flow_run_request_exceeds_limit,
    p007_worker_rbac_flow_run_namespace,
    p008_stateful_volume_prune_unprotected,
    p009_base_job_template_json,
    s001_plaintext_secret,
    s002_image_policy_marker,
    s003_secret_ref_missing,
    s004_service_selector_unmatched,
    s005_floating_image_tag,
    s006_missing_resource_requests,
    s007_credential_in_values,
)
from .runner import R001
from .schemas import K001, K002, K003, K004, K005, K006, K007

# rules a stage emits while loading, building, rendering or checking schemas (and the engine's own)
STAGE_RULES: tuple[Rule, ...] = (
    *(Y001, Y002, Y003, Y004),
    *(B001, B002, B003, B004, B005),
    *(F001, F005, F006),
    *(H001, H002, H003, H004, H005, H006, H007),
    *(K001, K002, K003, K004, K005, K006, K007),
    R001,
)

# the semantic rule modules, run on whole clusters or on the repository's files (see :mod:`.rules`)
RULE_MODULES: tuple[ModuleType, ...] = (
    f002_source_not_found,
    f003_depends_on_missing,
    f004_depends_on_cycle,
    f007_update_path_not_found,
    g001_generated_drift,
    k008_invalid_object_name,
    p001_prefect_worker_api_url,
    p002_prefect_auth_secret_mismatch,
    p003_prefect_ha_requirements,
    p004_prefect_ui_api_url,
    p005_flow_run_job_reference_missing,
    p006_flow_run_request_exceeds_limit,
    p007_worker_rbac_flow_run_namespace,
    p008_stateful_volume_prune_unprotected,
    p009_base_job_template_json,
    s001_plaintext_secret,
    s002_image_policy_marker,
    s003_secret_ref_missing,
    s004_service_selector_unmatched,
    s005_floating_image_tag,
    s006_missing_resource_requests,
    s007_credential_in_values,
)


def _catalogue() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for rule in (*STAGE_RULES, *(m.RULE for m in RULE_MODULES)):
        if rule.id in rules:
            raise ValueError(f"rule {rule.id} declared twice")
        rules[rule.id] = rule
    for m in RULE_MODULES:
        if getattr(m, "SCOPE", None) not in (CLUSTER, REPOSITORY):
            raise ValueError(f"rule module {m.__name__} must set SCOPE to {CLUSTER!r} or {REPOSITORY!r}")
    return dict(sorted(rules.items()))


RULES: dict[str, Rule] = _catalogue()  # every rule by ID, in ID order


def checks(scope: str | None = None) -> list[tuple[Rule, Check]]:
    """(rule, check) for every semantic rule module (of ``scope`` when given), in ID order."""
    found = sorted(RULE_MODULES, key=lambda m: m.RULE.id)
    return [(m.RULE, m.check) for m in found if scope is None or m.SCOPE == scope]


def check_rule_ids(settings: Settings) -> None:
    """An input error naming the config file when it names a rule the catalogue does not have."""
    for where, value in settings.named_rules:
        if str(value).upper() not in RULES:
            raise InputError(f"{where}: unknown rule {value!r} (see 'gitopsgen rules')", file=settings.source)
