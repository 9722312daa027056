"""Layer 2: the real platform program planned offline for every shipped environment; assertions on the
in-cluster layer: schema validity, custom-resource structure, IAM, GPU placement, tenancy, alerts."""

from __future__ import annotations

import json
import math

from kubernetes_validate import utils as kv
from mlops_platform.aws.account import github_oidc_provider_arn
from mlops_platform.config import PlatformConfig
from mlops_platform.config.rules import RESERVED_NAMESPACES
from mlops_platform.core import contract, iam, naming
from mlops_platform.core.versions import CHARTS, autoscaler_chart
from mlops_platform.engine import Plan
from mlops_platform.engine.recorder import SECRET
from mlops_platform.k8s.alerts import platform_rule_groups
from mlops_platform.k8s.manifests import PROJECT_LABEL
from mlops_platform.programs.cluster_layer import thresholds

from .crds import CHECKS, CORE_TYPES, custom_resource_problems, manifest, validate_strictly
from .planview import helm_values, k8s_of, layer_resources, policy_docs

GPU_TOLERATION = {"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}
ROLE = "aws:iam/role:Role"
#: AWS resource types that take no tags (inline policies, subscriptions, associations, lifecycle rules).
UNTAGGABLE = {"aws:iam/rolePolicy:RolePolicy", "aws:sns/topicSubscription:TopicSubscription",
              "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "aws:ecr/lifecyclePolicy:LifecyclePolicy"}


# ---------------------------------------------------------------- manifests and custom resources
def test_every_core_manifest_validates_strictly_against_the_cluster_schema(plan: Plan, cfg: PlatformConfig) -> None:
    core = [r for r in layer_resources(plan) if r.type in CORE_TYPES]
    assert {r.type for r in core} >= CORE_TYPES - {"kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
                                                   "kubernetes:policy/v1:PodDisruptionBudget"}
    failures = []
    for res in core:
        try:
            validate_strictly(manifest(res), cfg.cluster.version)
        except kv.ValidationError as exc:
            failures.append(f"{res.name}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not failures, failures


def test_every_custom_resource_has_its_required_structure(plan: Plan) -> None:
    crs = [r for r in layer_resources(plan) if r.type in CHECKS]
    assert len(crs) >= 8
    assert {r.name: p for r in crs if (p := custom_resource_problems(r))} == {}


def test_every_helm_release_is_a_pinned_atomic_chart(plan: Plan, cfg: PlatformConfig) -> None:
    releases = k8s_of(plan, "kubernetes:helm.sh/v3:Release")
    ca = autoscaler_chart(cfg.cluster.version)
    pinned = {(c.chart, c.version) for c in CHARTS.values()} | {(ca.chart, ca.version)}
    assert {(r.get("chart"), r.get("version")) for r in releases} <= pinned
    assert all(r.get("atomic") is True and r.get("namespace") for r in releases)


def test_secrets_never_reach_the_plan_in_clear(plan: Plan) -> None:
    secrets = k8s_of(plan, "kubernetes:core/v1:Secret")
    assert secrets and all(r.get("stringData") == SECRET for r in secrets)
    assert all(r.get("result") in (None, SECRET) for r in layer_resources(plan)
               if r.type == "random:index/randomPassword:RandomPassword")


# ---------------------------------------------------------------- IAM
def test_every_policy_document_of_the_layer_passes_the_iam_lint(plan: Plan) -> None:
    docs = list(policy_docs(layer_resources(plan)))
    assert len(docs) >= 10
    problems = {f"{r.name}.{key}": p for r, key, doc in docs
                if (p := iam.check_document(doc, key_policy=r.type == "aws:kms/key:Key"))}
    assert problems == {}


def test_every_irsa_trust_pins_sub_and_aud_to_an_existing_service_account(plan: Plan) -> None:
    service_accounts = {f"{r.get('metadata.namespace')}:{r.get('metadata.name')}"
                        for r in k8s_of(plan, "kubernetes:core/v1:ServiceAccount")}
    # service accounts the charts create, named in their values
    service_accounts |= {"kube-system:cluster-autoscaler", "monitoring:alertmanager"}
    trusts = [doc for r, key, doc in policy_docs(layer_resources(plan)) if r.type == ROLE
              and "oidc.eks" in str(doc["Statement"][0]["Principal"].get("Federated", ""))]
    assert len(trusts) >= 4
    for doc in trusts:
        cond = doc["Statement"][0]["Condition"]["StringEquals"]
        sub = next(v for k, v in cond.items() if k.endswith(":sub"))
        assert next(v for k, v in cond.items() if k.endswith(":aud")) == "sts.amazonaws.com"
        assert sub.removeprefix("system:serviceaccount:") in service_accounts, sub


def test_workload_service_accounts_carry_their_own_role(plan: Plan, cfg: PlatformConfig) -> None:
    """The workload and the pipeline ServiceAccounts each carry a role trusting exactly that account."""
    roles = {r.get("name"): r for r in k8s_of(plan, ROLE)}
    pipelines = cfg.component_enabled(cfg.pipelines)
    for p in cfg.projects:
        irsa = {r.get("metadata.name"): r for r in k8s_of(plan, "kubernetes:core/v1:ServiceAccount")
                if r.get("metadata.namespace") == p.name
                and "eks.amazonaws.com/role-arn" in (r.get("metadata.annotations") or {})}
        expected = {naming.project_service_account(p.name)}
        if pipelines:
            expected.add(naming.project_pipeline_service_account(p.name))
        assert set(irsa) == expected
        for sa_name, sa in irsa.items():
            role_name = sa.get("metadata.annotations")["eks.amazonaws.com/role-arn"].rsplit("/", 1)[1]
            trust = roles[role_name].get("assumeRolePolicy")
            assert f"system:serviceaccount:{p.name}:{sa_name}" in trust
            others = expected - {sa_name}
            assert not any(f"system:serviceaccount:{p.name}:{o}" in trust for o in others)


def test_project_permissions_are_limited_to_its_prefixes_and_repository(plan: Plan, cfg: PlatformConfig) -> None:
    policies = {r.name: doc for r, _, doc in policy_docs(k8s_of(plan, "aws:iam/rolePolicy:RolePolicy"))}
    for p in cfg.projects:
        for kind in ("workload", "ci"):
            doc = next(d for n, d in policies.items() if n.endswith(f"project-{p.name}-{kind}-policy"))
            resources = [res for s in doc["Statement"] for res in s["Resource"]]
            repository = f"repository/{naming.project_repository(p.name, cfg.cluster_name)}"
            for res in resources:
                assert (res == "*" or f"/{naming.project_prefix(p.name)}" in res or res.endswith(repository)
                        or ":s3:::" in res or ":kms:" in res or ":eks:" in res), res
            listing = [s for s in doc["Statement"] if s["Action"] == ["s3:ListBucket"]]
            assert listing and all(s["Condition"]["StringLike"]["s3:prefix"] == [f"projects/{p.name}/*"]
                                   for s in listing)


def test_ci_roles_trust_only_the_projects_repository_through_github_oidc(plan: Plan, cfg: PlatformConfig) -> None:
    """The shipped stacks manage their GitHub side (`github.manage`), so subjects pin the workflow and ref."""
    roles = {r.get("name"): r for r in k8s_of(plan, ROLE)}
    host = iam.GITHUB_OIDC_HOST
    assert cfg.github.manage
    for p in cfg.projects:
        doc = next(d for r, _, d in policy_docs([roles[f"{cfg.cluster_name}-{p.name}-ci"]]))
        cond = doc["Statement"][0]["Condition"]
        assert set(cond) == {"StringEquals"} and cond["StringEquals"][f"{host}:aud"] == "sts.amazonaws.com"
        subjects = cond["StringEquals"][f"{host}:sub"]
        assert all(s.startswith(f"repo:{p.github_repo}:") and f":job_workflow_ref:{p.github_repo}/" in s
                   for s in subjects)
        assert not any(":pull_request" in s for s in subjects)  # a pull request cannot push or deploy
        preview = next(d for r, _, d in policy_docs([roles[f"{cfg.cluster_name}-{p.name}-ci-preview"]]))
        assert preview["Statement"][0]["Condition"] == {
            "StringEquals": {f"{host}:aud": "sts.amazonaws.com"},
            "StringLike": {f"{host}:sub": f"repo:{p.github_repo}:pull_request:job_workflow_ref:{p.github_repo}/"
                                          ".github/workflows/cd.yml@refs/pull/*/merge"}}
        # Every CI trust names the account's one GitHub provider, which the aws layer owns (created here,
        # or reused through ci.github_oidc_provider_arn).
        for role in (f"{cfg.cluster_name}-{p.name}-ci", f"{cfg.cluster_name}-{p.name}-ci-preview"):
            trust = json.loads(roles[role].get("assumeRolePolicy"))
            federated = github_oidc_provider_arn(cfg.environment.account_id)
            assert trust["Statement"][0]["Principal"] == {"Federated": federated}
    github = [r for r in plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
              if r.get("url") == f"https://{host}"]
    assert len(github) == 1 and "mlops-platform-aws::" in github[0].urn
    assert k8s_of(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []


WRITES = ("ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
          "s3:PutObject", "s3:DeleteObject", "kms:Encrypt", "kms:GenerateDataKey")


def test_pull_request_previews_read_and_never_write(plan: Plan, cfg: PlatformConfig) -> None:
    policies = [r for r in k8s_of(plan, "aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-ci-preview-policy")]
    assert len(policies) == len(cfg.projects) > 0
    for _, _, doc in policy_docs(policies):
        actions = {a for s in doc["Statement"] for a in (s["Action"] if isinstance(s["Action"], list)
                                                         else [s["Action"]])}
        assert "eks:DescribeCluster" in actions and "ecr:BatchGetImage" in actions
        assert not actions & set(WRITES), actions & set(WRITES)
    associations = k8s_of(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    access = {r.name: r.get("policyArn") for r in associations if "-ci-" in r.name}
    for p in cfg.projects:
        stem = f"{cfg.environment.name}-tenants-project-{p.name}"
        assert access[f"{stem}-ci-preview-view"].endswith("/AmazonEKSViewPolicy")
        # the deploy role has no access policy: its rights are the namespaced deploy Role (k8s.deploy_rights)
        assert not any(name.startswith(f"{stem}-ci-") and name != f"{stem}-ci-preview-view" for name in access)


def test_every_taggable_aws_resource_of_the_layer_carries_the_base_tags(plan: Plan, cfg: PlatformConfig) -> None:
    aws_res = [r for r in layer_resources(plan) if r.type.startswith("aws:") and r.type not in UNTAGGABLE]
    assert len(aws_res) >= 10
    fixed = {k: v for k, v in cfg.base_tags.items() if k != "cost-center"}  # a project may bill its own
    untagged = [r.name for r in aws_res if not (fixed.items() <= (r.get("tags") or {}).items()
                                                and "cost-center" in r.get("tags"))]
    assert untagged == []
    billed = {r.get("tags")["cost-center"] for r in aws_res if r.get("tags").get("project") == "fraud-detector"}
    assert billed <= {next((p.cost_center for p in cfg.projects if p.name == "fraud-detector"), None) or
                      cfg.environment.cost_center}


# ---------------------------------------------------------------- tenancy
def test_every_project_gets_its_fenced_namespace(plan: Plan, cfg: PlatformConfig) -> None:
    for p in cfg.projects:
        def in_ns(type_: str, name: str = p.name) -> list:
            return [r for r in k8s_of(plan, type_) if r.get("metadata.namespace") == name]
        ns = next(r for r in k8s_of(plan, "kubernetes:core/v1:Namespace") if r.get("metadata.name") == p.name)
        labels = ns.get("metadata.labels")
        assert labels[PROJECT_LABEL] == p.name and labels["pod-security.kubernetes.io/enforce"] == "restricted"
        (quota,) = in_ns("kubernetes:core/v1:ResourceQuota")
        # the project's own quota, plus what its Kueue queue may borrow (borrowing_limit_pct of it, rounded
        # up) where the environment runs Kueue with cohort borrowing
        q = cfg.queueing
        borrows = q.enabled and q.cohort_borrowing
        ceiling = p.gpu_quota + (math.ceil(p.gpu_quota * q.borrowing_limit_pct / 100) if borrows else 0)
        assert quota.get("spec.hard")["requests.nvidia.com/gpu"] == str(ceiling)
        assert len(in_ns("kubernetes:core/v1:LimitRange")) == 1
        policies = {r.get("metadata.name"): r for r in in_ns("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
        assert policies["default-deny"].get("spec.policyTypes") == ["Ingress", "Egress"]
        assert {"allow-dns", "allow-from-platform"} <= set(policies)


def test_every_project_gets_a_hardened_repository_and_an_owner_budget(plan: Plan, cfg: PlatformConfig) -> None:
    for p in cfg.projects:
        repo = next(r for r in k8s_of(plan, "aws:ecr/repository:Repository")
                    if r.get("name") == naming.project_repository(p.name, cfg.cluster_name))
        assert repo.get("imageTagMutability") == "IMMUTABLE" and repo.get("imageScanningConfiguration.scanOnPush")
        assert repo.get("encryptionConfigurations.0.encryptionType") == "KMS"
        budget = next(r for r in k8s_of(plan, "aws:budgets/budget:Budget") if r.get("name").endswith(p.name))
        assert float(budget.get("limitAmount")) == p.monthly_budget_usd
        assert {e for n in budget.get("notifications") for e in n["subscriberEmailAddresses"]} == set(p.owners)


def test_project_outputs_match_the_contract(plan: Plan, cfg: PlatformConfig) -> None:
    projects = plan.outputs["projects"]
    assert set(projects) == {p.name for p in cfg.projects}
    for name, raw in projects.items():
        out = contract.ProjectOutput.model_validate(raw)
        assert out.namespace == name and out.s3_prefixes["models"].endswith(f"/projects/{name}/")
    assert plan.outputs["mlflow_url"].startswith("http://mlflow.mlflow.svc")
    assert plan.outputs["prometheus_url"].endswith(":9090")


# ---------------------------------------------------------------- GPU, monitoring, tracking
def test_gpu_daemonsets_tolerate_the_taint_and_the_autoscaler_discovers_the_cluster(plan: Plan,
                                                                                    cfg: PlatformConfig) -> None:
    for release in ("nvidia-device-plugin", "dcgm-exporter"):
        assert GPU_TOLERATION in helm_values(plan, release)["tolerations"]
    ca = helm_values(plan, "cluster-autoscaler")
    assert ca["autoDiscovery"]["clusterName"] == cfg.cluster_name
    assert ca["image"]["tag"].startswith(f"v{cfg.cluster.version}.")
    assert ca["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f"role/{cfg.cluster_name}-cluster-autoscaler")


def test_monitoring_keeps_alertmanager_on_and_credentials_out_of_values(plan: Plan, cfg: PlatformConfig) -> None:
    values = helm_values(plan, "kube-prometheus-stack")
    assert values["alertmanager"]["enabled"] is True
    assert values["prometheus"]["prometheusSpec"]["retention"] == cfg.monitoring_retention
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert "adminPassword" not in values["grafana"]
    assert "hooks.slack.com" not in str(values)


def test_project_monitors_can_only_speak_for_their_own_namespace(plan: Plan) -> None:
    """A project's CI Role creates ServiceMonitors/PrometheusRules: Prometheus stamps their series and rules
    with their own namespace (prometheus-operator `enforcedNamespaceLabel`), while the platform's monitors in
    reserved namespaces keep the namespaces they describe (`excludedFromEnforcement`, ObjectReference)."""
    spec = helm_values(plan, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert spec["enforcedNamespaceLabel"] == "namespace"
    excluded = {(ref["namespace"], ref["resource"]) for ref in spec["excludedFromEnforcement"]}
    assert {("monitoring", "servicemonitors"), ("opencost", "servicemonitors"), ("kube-system", "servicemonitors"),
            ("monitoring", "prometheusrules")} <= excluded
    projects = {r.inputs["metadata"]["name"] for r in plan.resources if r.type == "kubernetes:core/v1:Namespace"
                and "mlops.io/project" in (r.inputs["metadata"].get("labels") or {})}
    assert projects and not {ns for ns, _ in excluded} & projects


def test_shipped_alert_rules_are_present_with_the_environments_thresholds(plan: Plan, cfg: PlatformConfig) -> None:
    rules = {r["alert"]: r for res in k8s_of(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
             for g in res.get("spec.groups") for r in g["rules"]}
    expected = platform_rule_groups(thresholds(cfg))
    assert {r["alert"] for group in expected.values() for r in group} <= set(rules)
    assert contract.DRIFT_METRIC in rules["ModelDriftHigh"]["expr"]
    assert rules["ModelDriftHigh"]["expr"].endswith(f"> {cfg.monitoring.drift_threshold:g}")
    monitors = {r.get("metadata.name") for r in k8s_of(plan, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")}
    assert {"dcgm-exporter", "model-serving"} <= monitors
    dashboards = [r for r in k8s_of(plan, "kubernetes:core/v1:ConfigMap")
                  if r.get("metadata.labels", {}).get("grafana_dashboard") == "1"]
    # the platform's three, plus each project's cost dashboard (tenants layer) when OpenCost runs
    assert len(dashboards) == 3 + (len(cfg.projects) if cfg.cost_allocation_on else 0)


def test_dcgm_series_keep_the_namespace_and_pod_of_the_gpus_workload(plan: Plan) -> None:
    """dcgm-exporter labels each GPU's series with the pod using it (`namespace`, `pod`); a scrape without
    `honor_labels` renames those to exported_* and stamps the exporter's own pod (Prometheus docs,
    scrape_config `honor_labels`; prometheus-operator Endpoint `honorLabels`). The KEDA GPU trigger and the
    metric admission policy both rely on `namespace` being the workload's."""
    (dcgm,) = [r for r in k8s_of(plan, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
               if r.get("metadata.name") == "dcgm-exporter"]
    assert [e.get("honorLabels") for e in dcgm.get("spec.endpoints")] == [True]
    assert dcgm.get("metadata.namespace") in RESERVED_NAMESPACES  # excluded from namespace enforcement
    (serving,) = [r for r in k8s_of(plan, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
                  if r.get("metadata.name") == "model-serving"]
    assert "honorLabels" not in serving.get("spec.endpoints")[0]  # the model server's own labels are its own


def test_tracking_database_is_encrypted_private_and_protected_per_tier(plan: Plan, cfg: PlatformConfig) -> None:
    (db,) = k8s_of(plan, "aws:rds/instance:Instance")
    assert db.get("storageEncrypted") is True and db.get("kmsKeyId")
    assert db.get("publiclyAccessible") is False
    # RDS keeps the master password in Secrets Manager (under the environment's RDS key): none in state
    assert db.get("password") is None and db.get("manageMasterUserPassword") is True
    assert db.get("masterUserSecretKmsKeyId") == db.get("kmsKeyId")
    assert db.get("multiAz") is cfg.tracking_multi_az
    assert db.get("deletionProtection") is cfg.is_prod and db.protect is cfg.is_prod
    assert db.get("backupRetentionPeriod") == cfg.tracking_backup_days
    (sg,) = k8s_of(plan, "aws:ec2/securityGroup:SecurityGroup")
    ingress = sg.get("ingress")
    assert len(ingress) == 1 and ingress[0]["securityGroups"] and not ingress[0].get("cidrBlocks")
    (svc,) = [r for r in k8s_of(plan, "kubernetes:core/v1:Service") if r.get("metadata.name") == "mlflow"]
    assert svc.get("spec.type") == "ClusterIP"


def test_tracking_server_reaches_no_artifacts_and_each_project_gets_its_own_login(plan: Plan,
                                                                                 cfg: PlatformConfig) -> None:
    (role_policy,) = [r for r in layer_resources(plan) if r.type == "aws:iam/rolePolicy:RolePolicy"
                      and r.name.endswith("-tracking-policy")]
    actions = {a for s in json.loads(role_policy.get("policy"))["Statement"] for a in s["Action"]}
    assert actions == {"secretsmanager:GetSecretValue", "kms:Decrypt"}, "no S3: artifacts never pass the server"
    logins = {r.get("metadata.namespace"): r for r in k8s_of(plan, "kubernetes:core/v1:Secret")
              if r.get("metadata.name") == "mlflow-credentials"}
    assert set(logins) == {naming.project_namespace(p.name) for p in cfg.projects}
    assert all(r.get("stringData") == SECRET for r in logins.values())
    for p in cfg.projects:
        out = plan.outputs["projects"][p.name]
        assert out["tracking_secret"] == "mlflow-credentials"
        assert out["mlflow_artifact_uri"] == out["s3_prefixes"]["models"] + "mlflow/"


def test_kubernetes_resources_all_belong_to_the_layer(plan: Plan) -> None:
    k8s = [r for r in plan.resources if r.type.startswith("kubernetes:")]
    assert k8s and set(map(id, k8s)) <= set(map(id, layer_resources(plan)))


# ---------------------------------------------------------------- one owner per object, enforced fences
def test_every_kubernetes_object_has_exactly_one_owning_resource(plan: Plan) -> None:
    """Two resources writing one object fight over it, and deleting either deletes it."""
    keys = [(r.type, r.get("metadata.namespace") or "", r.get("metadata.name")) for r in plan.resources
            if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm")
            and r.get("metadata.name")]
    assert len(keys) > 20
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    assert duplicates == []


def test_network_policies_are_enforced_by_the_vpc_cni(plan: Plan) -> None:
    [cni] = [a for a in plan.of_type("aws:eks/addon:Addon") if a.get("addonName") == "vpc-cni"]
    assert json.loads(cni.get("configurationValues")) == {"enableNetworkPolicy": "true"}


def test_projects_admit_the_kuberay_operator_when_training_is_on(plan: Plan, cfg: PlatformConfig) -> None:
    admitting = {r.get("metadata.namespace"): r for r in k8s_of(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                 if r.get("metadata.name") == "allow-from-platform"}
    for p in cfg.projects:
        sources = {s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                   for s in admitting[naming.project_namespace(p.name)].get("spec.ingress.0.from")}
        assert ("kuberay" in sources) is cfg.component_enabled(cfg.training)


def test_projects_admit_flagger_to_their_hook_targets_only_when_delivery_is_on(plan: Plan,
                                                                             cfg: PlatformConfig) -> None:
    """Project namespaces deny ingress by default (the VPC CNI enforces it): without this policy Flagger's
    calls to the project's loadtester time out and every release with a webhook rolls back."""
    delivery = cfg.component_enabled(cfg.serving) and cfg.component_enabled(cfg.monitoring)
    admitting = {r.get("metadata.namespace"): r for r in k8s_of(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                 if r.get("metadata.name") == "allow-from-flagger"}
    assert set(admitting) == ({naming.project_namespace(p.name) for p in cfg.projects} if delivery else set())
    for policy in admitting.values():
        assert policy.get("spec") == {
            "podSelector": {"matchLabels": {"mlops.io/flagger-hook": "true"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "flagger-system"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "flagger"}}}]}]}


def test_tracking_database_pins_the_major_version_only(plan: Plan, cfg: PlatformConfig) -> None:
    for db in k8s_of(plan, "aws:rds/instance:Instance"):
        assert db.get("engineVersion").isdigit() and db.get("autoMinorVersionUpgrade") is True
        # encrypted with the environment's rotated RDS key, not a key of its own
        rds_key = plan.outputs["kms_key_arns"]["rds"]
        assert db.get("kmsKeyId") == db.get("performanceInsightsKmsKeyId") == rds_key
    assert not [k for k in k8s_of(plan, "aws:kms/key:Key")], "the in-cluster layer creates no KMS keys"


def test_monitoring_is_not_privileged_and_host_agents_run_in_their_own_namespace(plan: Plan,
                                                                                 cfg: PlatformConfig) -> None:
    """Grafana, Prometheus and Alertmanager under `baseline` admission; node-exporter (host network, PID and
    paths) in `node-agents`, the one privileged namespace of monitoring (kube-prometheus-stack's
    `prometheus-node-exporter.namespaceOverride`, prometheus-node-exporter chart templates/_helpers.tpl)."""
    if not cfg.component_enabled(cfg.monitoring):
        return
    levels = {r.get("metadata.name"): r.get("metadata.labels")["pod-security.kubernetes.io/enforce"]
              for r in k8s_of(plan, "kubernetes:core/v1:Namespace")}
    assert levels["monitoring"] == "baseline" and levels["node-agents"] == "privileged"
    node_exporter = helm_values(plan, "kube-prometheus-stack")["prometheus-node-exporter"]
    assert node_exporter == {"namespaceOverride": "node-agents"}
