"""Per-project tenancy: an isolated, least-privileged, budgeted place for one ML team.

For one project: a restricted namespace with quota, limit range and default-deny network policies; a
workload ServiceAccount bound by IRSA to a role limited to the project's S3 prefixes and its own ECR
repository; that repository; a GitHub Actions OIDC role for CI (no long-lived keys) with the deploy Role
(`deploy_rights`) in the namespace only; and a monthly AWS Budget alerting the owners. Everything is named
from the project's own name, so adding or removing a project never touches another project's resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.aws.budget import CostBudget, CostBudgetArgs
from mlops_platform.aws.ecr import Repository, RepositoryArgs
from mlops_platform.aws.layer_outputs import BucketRef
from mlops_platform.aws.project_identity import ProjectAccess, github_actions_role, workload_role
from mlops_platform.config.sections import GithubConfig, ProjectConfig
from mlops_platform.core import iam, naming
from mlops_platform.core.naming import ProjectRole
from mlops_platform.k8s import netpol
from mlops_platform.k8s._helm import namespace
from mlops_platform.k8s.cost_dashboards import FOLDER_ANNOTATION, tenant_cost_dashboard
from mlops_platform.k8s.deploy_rights import deployer_rules, grant, group_subject, previewer_rules
from mlops_platform.k8s.github_trust import RepositoryTrust, RepositoryTrustArgs
from mlops_platform.k8s.inference_auth import InferenceAuth, InferenceAuthArgs, InferenceAuthSettings
from mlops_platform.k8s.manifests import (
    DASHBOARD_LABEL,
    PLATFORM_LABELS,
    PROJECT_LABEL,
    Manifest,
    irsa_annotation,
    meta,
)
from mlops_platform.k8s.pipeline_tenant import ProjectPipelines, ProjectPipelinesArgs
from mlops_platform.k8s.project_gateway import PROJECT_GATEWAY, ProjectGateway, ProjectGatewayArgs
from mlops_platform.k8s.project_queue import ProjectQueue, ProjectQueueArgs, QueueSettings, quota_ceiling
from mlops_platform.k8s.provider import k8s_opts

#: Secret in every project namespace holding its MLflow login as the client's environment variables.
TRACKING_SECRET = "mlflow-credentials"
#: Cost-allocation tag the project's budget filters on (activate it once in the Billing console).
PROJECT_TAG = "project"
#: (resource name suffix, EKS access policy) of the pull-request preview role in the project namespace: it only
#: reads (`pulumi preview` refreshes, never changes). The deploy role has no access policy: its rights are the
#: deploy Role (`k8s.deploy_rights`) bound to its access entry's group, since no access policy covers the
#: custom resources the project program creates.
PREVIEW_ACCESS = ("view", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy")


@dataclass(frozen=True, kw_only=True)
class PlatformFacts:
    """What every tenant shares from the environment (built once; each tenant only reads it). All required."""

    env_name: str
    """Environment name."""
    cluster_name: str
    """EKS cluster name: prefixes the project's IAM role and budget names."""
    k8s_version: str
    """Kubernetes minor version of the namespace's PSA labels."""
    tags: dict[str, str]
    """The environment's tags; each project adds its own `project` (and `cost-center`) tag."""
    cluster_arn: pulumi.Input[str]
    """ARN of the EKS cluster: CI roles may describe it."""
    eks_cluster_name: pulumi.Input[str]
    """The cluster's name as an Output of the aws layer: namespaced access entries are made on it."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider (trust of the workload role)."""
    oidc_issuer_host: pulumi.Input[str]
    """The issuer URL without https:// (IAM condition keys use it)."""
    github_oidc_provider_arn: pulumi.Input[str]
    """GitHub Actions' OIDC provider (trust of the CI roles)."""
    buckets: dict[str, BucketRef]
    """The artifact buckets by role; projects get a prefix in the `datasets` and `models` ones."""
    s3_key_arn: pulumi.Input[str]
    """Key of the artifact buckets."""
    ecr_key_arn: pulumi.Input[str]
    """Key of the project's ECR repository."""
    untagged_expiry_days: int
    """ECR lifecycle: days until untagged images expire."""
    budget_thresholds_pct: tuple[int, ...]
    """Alert thresholds of the project's budget, percent."""
    protect: bool
    """Protect and retain the project's repository (prod)."""
    force_delete_repositories: bool = False
    """Destroy deletes project repositories that still hold images (`artifacts.allow_force_destroy`).
    Default: off."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster."""
    peers: netpol.PlatformPeers
    """Platform namespaces the project namespace admits or reaches."""
    tracking_credentials: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """Project -> its MLflow password (`tracking.Tracking.credentials`). Default: none (tracking off)."""
    tracking_url: pulumi.Input[str] = ""
    """In-cluster MLflow URL. Default: '' (tracking off)."""
    github: GithubConfig = field(default_factory=GithubConfig)
    """Whether (and with which reviewers) each project's GitHub environment and subject claim are managed
    (`github_trust`); then the CI roles pin their workflows. Default: not managed."""
    pipelines_cooldown_minutes: int | None = None
    """Cool-down of drift-triggered retrains; None when the pipelines component is off (no pipeline identity,
    rights or drift trigger for the project)."""
    cost_dashboards: bool = False
    """Give the project a cost dashboard (OpenCost's series) in its own folder of the platform's Grafana;
    on when cost allocation is. Default: off."""
    shared_gpu_resources: tuple[str, ...] = ()
    """Shared-GPU resources the pools advertise (nvidia.com/gpu.shared, nvidia.com/mig-…): each namespace's
    quota caps every one (an unlisted extended resource would be unlimited). Default: none."""
    queueing: QueueSettings | None = None
    """Quota-fair scheduling (Kueue): each project gets its queues. Default: none (Kueue off)."""
    inference_auth: InferenceAuthSettings | None = None
    """How the projects' inference routes authenticate; None when serving is off or unauthenticated
    inference is allowed. Default: none."""
    gateway: ProjectGatewayArgs | None = None
    """The project's Gateway and certificate on the models' gateway class (its `namespace` is filled per
    project); None when serving is off. Default: none."""


@dataclass(frozen=True, kw_only=True)
class ProjectTenantArgs:
    """Arguments of `ProjectTenant`."""

    project: ProjectConfig
    """The project's entry in the stack's `projects`. Required."""
    facts: PlatformFacts
    """What the environment shares with every tenant. Required."""


@dataclass(frozen=True, kw_only=True)
class TenantOutputs:
    """What a tenant exports: the fields of `contract.ProjectOutput`, as outputs (a test keeps them equal)."""

    name: str
    namespace: str
    service_account: str
    workload_role_arn: pulumi.Output[str]
    ci_role_arn: pulumi.Output[str]
    ci_preview_role_arn: pulumi.Output[str]
    ecr_repository_url: pulumi.Output[str]
    monthly_budget_usd: float
    s3_prefixes: dict[str, pulumi.Output[str]]
    tracking_secret: str
    mlflow_artifact_uri: pulumi.Output[str] | str
    pipeline_service_account: str = ""
    pipeline_role_arn: pulumi.Output[str] | str = ""
    training_role_arn: pulumi.Output[str] | str = ""
    queue: str = ""
    gateway: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The stack-output value, field by field (in the order tenants have always exported them)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def quota_spec(project: ProjectConfig, shared: tuple[str, ...] = (), queueing: QueueSettings | None = None) -> Manifest:
    """Hard caps of the namespace: the project's quotas (plus what Kueue lets it borrow), every shared-GPU
    resource (slices), no LoadBalancer or NodePort services (exposure goes through the gateway)."""
    ceiling = quota_ceiling(project, shared, queueing)
    hard = {"requests.cpu": str(ceiling.pop("cpu")), "requests.memory": f"{ceiling['memory']}Gi",
            "limits.memory": f"{ceiling.pop('memory')}Gi"}
    hard |= {f"requests.{res}": str(n) for res, n in ceiling.items()}
    return {"hard": {**hard, "services.loadbalancers": "0", "services.nodeports": "0"}}


def limit_range_spec(project: ProjectConfig) -> Manifest:
    """Defaults for containers that set nothing (the quota needs requests), and a per-container ceiling."""
    return {"limits": [{"type": "Container",
                        "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
                        "default": {"cpu": "1", "memory": "1Gi"},
                        "max": {"cpu": str(project.cpu_quota), "memory": f"{project.memory_quota_gib}Gi"}}]}


def project_tags(facts: PlatformFacts, project: ProjectConfig) -> dict[str, str]:
    tags = {**facts.tags, PROJECT_TAG: project.name}
    if project.cost_center:
        tags["cost-center"] = project.cost_center
    return tags


class ProjectTenant(pulumi.ComponentResource):
    """Everything one onboarded project gets; `outputs` matches `contract.ProjectOutput`."""

    outputs: TenantOutputs

    def __init__(self, name: str, args: ProjectTenantArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ProjectTenant", name, None, opts)
        project, facts = args.project, args.facts
        self.ns_name = naming.project_namespace(project.name)
        self.sa_name = naming.project_service_account(project.name)
        tags = project_tags(facts, project)
        ns = self._namespace(name, project, facts)
        queue = self._queue(name, project, facts, ns)
        self.repository = Repository(f"{name}-ecr", RepositoryArgs(
            repository=naming.project_repository(project.name, facts.cluster_name), kms_key_arn=facts.ecr_key_arn,
            tags=tags, untagged_days=facts.untagged_expiry_days, force_delete=facts.force_delete_repositories,
            protect=facts.protect), pulumi.ResourceOptions(parent=self))
        access = ProjectAccess(project=project.name, buckets=facts.buckets, s3_key_arn=facts.s3_key_arn,
                               cluster_arn=facts.cluster_arn, repository_arn=self.repository.arn)
        workload_role = self._workload_identity(name, project, facts, access, tags, ns)
        self._rbac(name, project, facts, ns)
        ci = self._ci_identities(name, project, facts, access, tags)
        tracking_secret = self._tracking_login(name, project, facts, ns)
        pipeline = self._pipelines(name, project, facts, access, tags, ns)
        self._serving_front(name, facts, ns)
        CostBudget(f"{name}-budget", CostBudgetArgs(
            budget_name=naming.iam_name(facts.cluster_name, "project", project.name, limit=100),
            monthly_usd=project.monthly_budget_usd, emails=list(project.owners),
            tag_filter=(PROJECT_TAG, project.name), thresholds_pct=facts.budget_thresholds_pct, tags=tags),
            pulumi.ResourceOptions(parent=self))
        if facts.cost_dashboards:
            self._cost_dashboard(name, project, facts)
        self.outputs = self._outputs(project, facts, workload_role, ci, tracking_secret, pipeline, queue)
        self.register_outputs(self.outputs.to_dict())

    def _outputs(self, project: ProjectConfig, facts: PlatformFacts, workload_role: aws.iam.Role,
                 ci: dict[ProjectRole, aws.iam.Role], tracking_secret: str, pipeline: ProjectPipelines | None,
                 queue: str) -> TenantOutputs:
        prefix = naming.project_prefix(project.name)
        return TenantOutputs(
            name=project.name, namespace=self.ns_name, service_account=self.sa_name,
            workload_role_arn=workload_role.arn, ci_role_arn=ci[ProjectRole.CI].arn,
            ci_preview_role_arn=ci[ProjectRole.CI_PREVIEW].arn, ecr_repository_url=self.repository.url,
            monthly_budget_usd=project.monthly_budget_usd,
            s3_prefixes={role: pulumi.Output.concat("s3://", ref.name, "/", prefix)
                         for role, ref in facts.buckets.items() if role in naming.PROJECT_BUCKET_ROLES},
            tracking_secret=tracking_secret,
            mlflow_artifact_uri=pulumi.Output.concat("s3://", facts.buckets["models"].name, "/", prefix, "mlflow/")
            if tracking_secret else "",
            pipeline_service_account=naming.project_pipeline_service_account(project.name) if pipeline else "",
            pipeline_role_arn=pipeline.role.arn if pipeline else "",
            training_role_arn=ci[ProjectRole.TRAINING].arn, queue=queue,
            gateway=PROJECT_GATEWAY if facts.gateway is not None else "")

    def _serving_front(self, name: str, facts: PlatformFacts, ns: pulumi.Resource) -> None:
        """The project's Gateway and certificate, and the authentication of its routes (when serving is on)."""
        if facts.gateway is not None:
            ProjectGateway(f"{name}-gateway", replace(facts.gateway, namespace=self.ns_name, depends_on=(ns,)),
                           pulumi.ResourceOptions(parent=self))
        if facts.inference_auth is not None:
            InferenceAuth(f"{name}-inference-auth", InferenceAuthArgs(
                namespace=self.ns_name, settings=facts.inference_auth, provider=facts.provider, depends_on=(ns,)),
                pulumi.ResourceOptions(parent=self))

    def _ci_identities(self, name: str, project: ProjectConfig, facts: PlatformFacts, access: ProjectAccess,
                       tags: dict[str, str]) -> dict[ProjectRole, aws.iam.Role]:
        """The project's GitHub Actions roles (deploy, preview, training) and, when managed, its repository's
        environment and subject claim."""
        roles = {ProjectRole.CI: self._ci_identity(name, project, facts, access, tags),
                 ProjectRole.CI_PREVIEW: self._ci_preview_identity(name, project, facts, access, tags)}
        if facts.github.manage:
            RepositoryTrust(f"{name}-github", RepositoryTrustArgs(
                repo=project.github_repo, environment=facts.env_name,
                reviewer_team_ids=tuple(facts.github.reviewer_team_ids),
                reviewer_user_ids=tuple(facts.github.reviewer_user_ids)), pulumi.ResourceOptions(parent=self))
        roles[ProjectRole.TRAINING] = self._training_identity(name, project, facts, access, tags)
        return roles

    def _cost_dashboard(self, name: str, project: ProjectConfig, facts: PlatformFacts) -> None:
        """The in-cluster view of the project's spend, beside its AWS Budget (which sees only tagged resources,
        never its share of the shared nodes): Grafana's sidecar picks it up from the monitoring namespace."""
        board = tenant_cost_dashboard(project.name, self.ns_name)
        k8s.core.v1.ConfigMap(
            f"{name}-cost-dashboard",
            metadata=meta(f"cost-{self.ns_name}", netpol.MONITORING_NAMESPACE, {**PLATFORM_LABELS, **DASHBOARD_LABEL},
                          {FOLDER_ANNOTATION: project.name}),
            data={f"{board['uid']}.json": json.dumps(board, sort_keys=True)}, opts=k8s_opts(self, facts.provider))

    def _namespace(self, name: str, project: ProjectConfig, facts: PlatformFacts) -> k8s.core.v1.Namespace:
        opts = k8s_opts(self, facts.provider)
        ns = namespace(f"{name}-ns", self.ns_name, "restricted", facts.k8s_version, opts,
                       {PROJECT_LABEL: project.name}, policies=netpol.project_policies(facts.peers))
        inside = k8s_opts(self, facts.provider, [ns])
        k8s.core.v1.ResourceQuota(f"{name}-quota", metadata=meta("project-quota", self.ns_name),
                                  spec=quota_spec(project, facts.shared_gpu_resources, facts.queueing), opts=inside)
        k8s.core.v1.LimitRange(f"{name}-limits", metadata=meta("project-limits", self.ns_name),
                               spec=limit_range_spec(project), opts=inside)
        return ns

    def _rbac(self, name: str, project: ProjectConfig, facts: PlatformFacts, ns: pulumi.Resource) -> None:
        """The deploy and preview Roles of the CI roles' access entry groups (`deploy_rights`)."""
        labels, opts = {PROJECT_LABEL: project.name}, k8s_opts(self, facts.provider, [ns])
        grant(f"{name}-deployer", role_name=f"{project.name}-deployer", namespace=self.ns_name, labels=labels,
              rules=deployer_rules(), subject=group_subject(naming.project_deployers(project.name)), opts=opts)
        grant(f"{name}-previewer", role_name=f"{project.name}-previewer", namespace=self.ns_name, labels=labels,
              rules=previewer_rules(), subject=group_subject(naming.project_previewers(project.name)), opts=opts)

    def _queue(self, name: str, project: ProjectConfig, facts: PlatformFacts, ns: pulumi.Resource) -> str:
        """The project's Kueue queues; returns the LocalQueue's name ('' when Kueue is off)."""
        if facts.queueing is None:
            return ""
        return ProjectQueue(f"{name}-queue", ProjectQueueArgs(
            project=project, namespace=self.ns_name, shared_resources=facts.shared_gpu_resources,
            settings=facts.queueing, labels={PROJECT_LABEL: project.name}, provider=facts.provider,
            depends_on=(ns,)), pulumi.ResourceOptions(parent=self)).name

    def _tracking_login(self, name: str, project: ProjectConfig, facts: PlatformFacts, ns: pulumi.Resource) -> str:
        """The project's MLflow user (its slug) and password, as the variables the MLflow client reads, in the
        project's namespace only. Returns the Secret's name ('' when tracking is off)."""
        password = facts.tracking_credentials.get(project.name)
        if password is None or "models" not in facts.buckets:
            return ""
        login = {"MLFLOW_TRACKING_URI": facts.tracking_url, "MLFLOW_TRACKING_USERNAME": project.name,
                 "MLFLOW_TRACKING_PASSWORD": password}
        k8s.core.v1.Secret(f"{name}-tracking-login", metadata=meta(TRACKING_SECRET, self.ns_name,
                                                                     {PROJECT_LABEL: project.name}),
                           type="Opaque", string_data={k: pulumi.Output.secret(v) for k, v in login.items()},
                           opts=k8s_opts(self, facts.provider, [ns]))
        return TRACKING_SECRET

    def _workload_identity(self, name: str, project: ProjectConfig, facts: PlatformFacts, access: ProjectAccess,
                           tags: dict[str, str], ns: pulumi.Resource) -> aws.iam.Role:
        trust = iam.irsa_trust(facts.oidc_provider_arn, facts.oidc_issuer_host, self.ns_name, self.sa_name)
        role = workload_role(f"{name}-workload", trust=trust, policy=access.workload(), tags=tags, parent=self,
                             role_name=naming.project_role_name(facts.cluster_name, project.name, ProjectRole.WORKLOAD))
        k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta(self.sa_name, self.ns_name, {PROJECT_LABEL: project.name},
                                        irsa_annotation(role.arn)),
            automount_service_account_token=False, opts=k8s_opts(self, facts.provider, [ns]))
        return role

    def _github_role(self, prefix: str, project: ProjectConfig, facts: PlatformFacts, role: ProjectRole, *,
                     trust: iam.Doc, policy: iam.Doc, tags: dict[str, str], groups: list[str] | None,
                     access: tuple[str, str] | None = None) -> aws.iam.Role:
        """A GitHub Actions role of the project (`github_actions_role`) on its cluster and namespace."""
        return github_actions_role(prefix, role_name=naming.project_role_name(facts.cluster_name, project.name, role),
                                   trust=trust, policy=policy, cluster_name=facts.eks_cluster_name,
                                   namespace=self.ns_name, tags=tags, parent=self, access=access, groups=groups)

    def _ci_identity(self, name: str, project: ProjectConfig, facts: PlatformFacts, access: ProjectAccess,
                     tags: dict[str, str]) -> aws.iam.Role:
        """Pushes images and deploys: trusted on the project's branches and deployment environments only."""
        trust = iam.github_actions_trust(facts.github_oidc_provider_arn, project.github_repo, project.branches,
                                         [facts.env_name], pin_workflows=facts.github.pins_workflows)
        # with pipelines, CI also submits runs: the namespaced submitter group
        groups = [naming.project_deployers(project.name)]
        if facts.pipelines_cooldown_minutes:
            groups.append(naming.project_pipeline_submitters(project.name))
        return self._github_role(f"{name}-ci", project, facts, ProjectRole.CI, trust=trust, policy=access.ci(),
                                 tags=tags, groups=groups)

    def _pipelines(self, name: str, project: ProjectConfig, facts: PlatformFacts, access: ProjectAccess,
                   tags: dict[str, str], ns: pulumi.Resource) -> ProjectPipelines | None:
        """Pipeline steps get their own IRSA role with the workload's rights (S3 prefixes, ECR pull, key)."""
        if facts.pipelines_cooldown_minutes is None:
            return None
        return ProjectPipelines(f"{name}-pipelines", ProjectPipelinesArgs(
            project=project.name, namespace=self.ns_name,
            service_account=naming.project_pipeline_service_account(project.name),
            role_name=naming.project_role_name(facts.cluster_name, project.name, ProjectRole.PIPELINE),
            policy=access.workload(), oidc_provider_arn=facts.oidc_provider_arn,
            oidc_issuer_host=facts.oidc_issuer_host, submitters_group=naming.project_pipeline_submitters(project.name),
            cooldown_minutes=facts.pipelines_cooldown_minutes, tags=tags, labels={PROJECT_LABEL: project.name},
            alert_route=facts.peers.monitoring_namespace is not None,
            provider=facts.provider, depends_on=(ns,)), pulumi.ResourceOptions(parent=self))

    def _training_identity(self, name: str, project: ProjectConfig, facts: PlatformFacts, access: ProjectAccess,
                           tags: dict[str, str]) -> aws.iam.Role:
        """Continuous training's own role, never the push/deploy one: trusted only for jobs in the project's
        platform environment (pinned to the training workflow when the subject claim is managed)."""
        trust = iam.github_environment_trust(facts.github_oidc_provider_arn, project.github_repo, facts.env_name,
                                             iam.TRAINING_WORKFLOW, pin_workflows=facts.github.pins_workflows)
        submits = facts.pipelines_cooldown_minutes is not None
        groups = [naming.project_pipeline_submitters(project.name)] if submits else None
        return self._github_role(f"{name}-training", project, facts, ProjectRole.TRAINING, trust=trust,
                                 policy=access.training(submits=submits), tags=tags, groups=groups)

    def _ci_preview_identity(self, name: str, project: ProjectConfig, facts: PlatformFacts, access: ProjectAccess,
                             tags: dict[str, str]) -> aws.iam.Role:
        """`pulumi preview` on pull requests: read-only, so opening a pull request cannot deploy."""
        trust = iam.github_pull_request_trust(facts.github_oidc_provider_arn, project.github_repo,
                                              pin_workflows=facts.github.pins_workflows)
        return self._github_role(f"{name}-ci-preview", project, facts, ProjectRole.CI_PREVIEW, trust=trust,
                                 policy=access.ci_preview(), tags=tags, access=PREVIEW_ACCESS,
                                 groups=[naming.project_previewers(project.name)])
