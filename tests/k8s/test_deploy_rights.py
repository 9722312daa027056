"""The CI deploy role's Kubernetes rights (k8s.deploy_rights): why no EKS access policy can carry them (the
upstream table, kept as a fixture), that they are least privilege, and how the tenants layer binds them.
The drift check against the generated project's own plan is in tests/template/test_infra_review.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_platform.config import PlatformConfig
from mlops_platform.core import naming
from mlops_platform.engine import Plan
from mlops_platform.k8s.deploy_rights import MANAGED, deployer_rules, previewer_rules
from mlops_platform.policy.sdk import rbac

from k8s.planview import k8s_of

FIXTURE = Path(__file__).parents[1] / "fixtures" / "upstream" / "eks-access-policies.json"
#: The built-in groups whose kinds the project program creates; everything else in MANAGED is a CRD's.
BUILT_IN = {"", "apps", "policy", "autoscaling"}


def edit_policy() -> list[dict[str, Any]]:
    """AmazonEKSEditPolicy as RBAC rules (EKS user guide, "Review access policy permissions")."""
    rows = json.loads(FIXTURE.read_text())["policies"]["AmazonEKSEditPolicy"]
    return [{"apiGroups": [r["apiGroup"]], "resources": r["resources"], "verbs": r["verbs"]} for r in rows]


def test_the_edit_access_policy_grants_no_custom_resource_the_project_creates() -> None:
    """Access policies do not aggregate CRD rights: with AmazonEKSEditPolicy alone, `pulumi up` of a project
    is Forbidden on its Canary, ScaledObject, monitors, InferenceService and WorkflowTemplate."""
    edit = edit_policy()
    for group, resources in MANAGED:
        for resource in resources:
            assert rbac.allows(edit, group, resource, "create") == (group in BUILT_IN), (group, resource)


def test_the_edit_access_policy_reads_secrets_and_impersonates_which_the_deploy_role_must_not() -> None:
    """Why the Role replaces the access policy instead of being added to it."""
    edit = edit_policy()
    assert rbac.reads_secrets(edit) and rbac.allows(edit, "", "serviceaccounts", "impersonate")
    assert rbac.allows(edit, "", "pods/exec", "create")
    rules = deployer_rules()
    assert rbac.risks(rules) == []
    assert not rbac.allows(rules, "", "pods/exec", "create")
    assert not any(rbac.allows(rules, "rbac.authorization.k8s.io", res, verb)
                   for res in ("roles", "rolebindings") for verb in ("create", "patch"))


def test_the_deploy_role_cannot_touch_its_namespaces_gateway_or_certificate() -> None:
    """The project's Gateway `models` and its Certificate are the tenants layer's (project_gateway.py): a CI
    role able to change them could add listeners and hosts to the Envoy fleet every project shares."""
    rules = deployer_rules()
    for group, resource in (("gateway.networking.k8s.io", "gateways"), ("cert-manager.io", "certificates"),
                            ("gateway.networking.k8s.io", "referencegrants"), ("", "secrets")):
        assert not any(rbac.allows(rules, group, resource, verb) for verb in ("create", "update", "patch", "delete"))
    assert rbac.allows(rules, "gateway.networking.k8s.io", "httproutes", "create")  # fenced at admission


def test_previews_read_every_kind_the_deploy_role_manages_and_write_none() -> None:
    """The preview role refreshes what `pulumi up` manages; the EKS view policy reads no custom resource."""
    reader, deployer = previewer_rules(), deployer_rules()
    assert rbac.read_only(reader) and not rbac.read_only(deployer)
    for group, resources in MANAGED:
        assert all(rbac.allows(reader, group, r, "get") for r in resources)
        assert not any(rbac.allows(reader, group, r, "patch") for r in resources)


def test_rbac_reading_helpers_judge_rules_as_the_api_server_does() -> None:
    wildcard = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}]
    assert rbac.allows(wildcard, "", "secrets", "get") and not rbac.read_only(wildcard)  # reads Secrets
    assert rbac.read_only([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}])
    assert not rbac.read_only([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}])
    assert rbac.risks([{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
                       {"apiGroups": ["x"], "resources": ["y"], "verbs": ["*"]}]) == [
        "impersonate on serviceaccounts", "* on y"]
    assert [rbac.kind_resource(k) for k in ("Canary", "Service", "HTTPRoute", "SecurityPolicy", "Gateway")] == [
        "canaries", "services", "httproutes", "securitypolicies", "gateways"]


def test_each_project_binds_the_deploy_and_preview_roles_to_its_ci_roles_only(plan: Plan, cfg: PlatformConfig) -> None:
    roles = {r.get("metadata.name"): r for r in k8s_of(plan, rbac.ROLE)}
    bindings = {r.get("metadata.name"): r for r in k8s_of(plan, rbac.ROLE_BINDING)}
    entries = {r.name.split("-project-", 1)[1]: r for r in k8s_of(plan, "aws:eks/accessEntry:AccessEntry")
               if "-project-" in r.name}
    associations = {r.name.split("-project-", 1)[1]
                    for r in k8s_of(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
                    if "-project-" in r.name}
    for p in cfg.projects:
        reader = roles[f"{p.name}-previewer"]
        assert reader.get("rules") == previewer_rules() and reader.get("metadata.namespace") == p.name
        assert bindings[f"{p.name}-previewer"].get("subjects")[0]["name"] == naming.project_previewers(p.name)
        assert entries[f"{p.name}-ci-preview-access"].get("kubernetesGroups") == [naming.project_previewers(p.name)]
        role, binding = roles[f"{p.name}-deployer"], bindings[f"{p.name}-deployer"]
        assert role.get("metadata.namespace") == binding.get("metadata.namespace") == p.name
        assert role.get("rules") == deployer_rules()
        assert binding.get("subjects") == [{"kind": "Group", "name": naming.project_deployers(p.name),
                                            "apiGroup": "rbac.authorization.k8s.io"}]
        assert binding.get("roleRef") == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": f"{p.name}-deployer"}
        assert role.urn in binding.dependencies
        # the deploy role's only Kubernetes rights are its groups; previews keep the view policy, no group
        assert naming.project_deployers(p.name) in entries[f"{p.name}-ci-access"].get("kubernetesGroups")
        assert {a for a in associations if a.startswith(f"{p.name}-ci")} == {f"{p.name}-ci-preview-view"}
        others = [e for k, e in entries.items() if k != f"{p.name}-ci-access"]
        assert not any(naming.project_deployers(p.name) in (e.get("kubernetesGroups") or []) for e in others)
