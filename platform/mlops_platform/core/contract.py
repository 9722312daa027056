"""The outputs contract: everything projects and later layers need from a platform environment.

The platform program exports exactly `PlatformOutputs.model_dump()` keys as stack outputs; project
templates (`mlplat new`) and project `infra/` programs read them back through this model.
See docs/outputs-contract.md.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from mlops_platform.core.strict import StrictNumbers

#: Prometheus gauge exported by every project's drift monitor and watched by the platform alert rule.
DRIFT_METRIC = "mlops_model_drift_score"
#: Labels carried by DRIFT_METRIC.
DRIFT_METRIC_LABELS = ("model", "feature", "method")
#: Default PSI threshold above which the platform alerts (PSI > 0.2 is the usual "significant shift").
DEFAULT_DRIFT_THRESHOLD = 0.2
#: The project's pipeline as a WorkflowTemplate in its namespace (the template ships it; the platform's
#: drift Sensor and the project's CronWorkflow start Workflows from it).
PIPELINE_TEMPLATE = "training-pipeline"
#: Name, port and path of the per-project webhook EventSource Alertmanager posts the drift alert to.
DRIFT_EVENT_SOURCE = "drift"
DRIFT_EVENT_PORT = 12000
DRIFT_EVENT_PATH = "/drift"


def drift_webhook_url(namespace: str) -> str:
    """Cluster-local URL of a project's drift EventSource (Argo Events names its Service `<name>-eventsource-svc`)."""
    return (f"http://{DRIFT_EVENT_SOURCE}-eventsource-svc.{namespace}.svc.cluster.local:{DRIFT_EVENT_PORT}"
            f"{DRIFT_EVENT_PATH}")
#: Taint every GPU node carries; GPU workloads must tolerate it.
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
GPU_RESOURCE = "nvidia.com/gpu"
#: Node labels set on GPU pools (selectors use them).
GPU_TYPE_LABEL = "mlops.io/gpu-type"
POOL_LABEL = "mlops.io/pool"
#: Label a job (RayJob, Job, pod) carries to submit through a Kueue LocalQueue of its namespace (kueue
#: pkg/controller/constants QueueLabel).
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
#: cluster-autoscaler's AWS GPU label (cloudprovider/aws/aws_cloud_provider.go `GPULabel`), on every GPU node.
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
#: Node label of pools whose nodes carry Elastic Fabric Adapters (`multi_node.efa`): the EFA device plugin
#: runs on these nodes only.
EFA_LABEL = "mlops.io/efa"
#: Extended resource the AWS EFA device plugin advertises, one unit per EFA device of the node
#: (aws/eks-charts stable/aws-efa-k8s-device-plugin; EKS User Guide "Manage EFA devices on Amazon EKS").
EFA_RESOURCE = "vpc.amazonaws.com/efa"
#: Tags GPU and system nodes carry (instances, volumes, interfaces): only ones that never change, since a change
#: rolls every node (a new launch-template version; for Karpenter, EC2NodeClass drift).
STABLE_NODE_TAG_KEYS = ("environment", "managed-by")
#: Tag Karpenter's EC2NodeClasses select the nodes' subnets and security group by (its docs' convention).
KARPENTER_DISCOVERY_TAG = "karpenter.sh/discovery"


class _Out(StrictNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BucketOutput(_Out):
    name: str = Field(description="Bucket name.")
    arn: str = Field(description="Bucket ARN.")


class GpuPoolOutput(_Out):
    """A GPU node pool workloads select with nodeSelector `mlops.io/pool: <name>`."""

    gpu_type: str = Field(description="GPU model, the pool's mlops.io/gpu-type label (l4, a10g, ...).")
    instance_types: list[str] = Field(description="EC2 instance types of the pool.")
    gpus_per_node: int = Field(description="GPUs of the pool's largest instance type.")
    max_nodes: int = Field(description="Upper bound of the pool's autoscaling.")
    capacity: str = Field(description="on_demand | spot.")
    provisioner: str = Field(
        default="managed_node_groups",
        description="managed_node_groups | karpenter: who launches the pool's nodes. With karpenter, the pool is a "
                    "NodePool whose GPU limit is max_nodes × gpus_per_node, and a spot pool may fall back to "
                    "on-demand.")
    max_gpus: int = Field(default=0, description="Most GPUs the pool can hold at once (0 from platforms older "
                                                 "than this field: max_nodes × gpus_per_node).")
    efa_per_node: int = Field(default=0, description="EFA devices each node advertises as vpc.amazonaws.com/efa "
                                                     "(0: the pool has no EFA).")
    resources: dict[str, int] = Field(
        default_factory=dict, description="GPU resources one node advertises: nvidia.com/gpu (whole GPUs), "
                                          "nvidia.com/gpu.shared (time slices) or nvidia.com/mig-<profile> -> count "
                                          "({} from platforms older than this field: gpus_per_node whole GPUs).")

    @property
    def whole_gpus(self) -> bool:
        """The pool advertises whole GPUs (nvidia.com/gpu); a shared pool advertises only its slices."""
        return not self.resources or GPU_RESOURCE in self.resources


class ProjectOutput(_Out):
    """What one onboarded project (tenant) gets from the platform."""

    name: str = Field(description="Project slug (DNS label).")
    namespace: str = Field(description="Kubernetes namespace of the project.")
    service_account: str = Field(description="ServiceAccount bound to the project's IRSA role.")
    workload_role_arn: str = Field(description="IRSA role ARN used by the project's pods.")
    ci_role_arn: str = Field(description="Role GitHub Actions assumes through OIDC (no long-lived keys) to push "
                                         "images and deploy: trusted on the project's branches and environments.")
    ci_preview_role_arn: str = Field(
        default="", description="Read-only role pull-request workflows assume for `pulumi preview`.")
    ecr_repository_url: str = Field(description="The project's own ECR repository URL.")
    s3_prefixes: dict[str, str] = Field(description="Bucket role -> s3://bucket/projects/<name>/ URI.")
    monthly_budget_usd: float = Field(description="Monthly AWS Budget of the project, USD.")
    tracking_secret: str = Field(
        default="", description="Secret in the project namespace with the project's own MLflow login "
                                "(MLFLOW_TRACKING_URI/USERNAME/PASSWORD; '' when tracking is off).")
    mlflow_artifact_uri: str = Field(
        default="", description="Where the project's experiments keep artifacts (s3://models/projects/<name>/"
                                "mlflow/): clients write there with the workload role; the server never does.")
    pipeline_service_account: str = Field(
        default="", description="ServiceAccount the project's pipeline steps run as ('' when pipelines are off).")
    pipeline_role_arn: str = Field(
        default="", description="IRSA role of that ServiceAccount: the project's S3 prefixes and ECR pull.")
    training_role_arn: str = Field(
        default="", description="Role continuous training in GitHub Actions assumes, never the push/deploy role: "
                                "trusted only for jobs in the platform environment; read/write on the project's "
                                "datasets and models prefixes with their key, and, with pipelines, submits and "
                                "watches the pipeline (namespaced submitter group only). '' from platforms "
                                "older than this role.")
    queue: str = Field(
        default="", description="Kueue LocalQueue in the project namespace its batch jobs (RayJobs, the pipeline's "
                                "training step) name in the kueue.x-k8s.io/queue-name label ('' when the "
                                "environment has no quota-fair scheduling).")
    gateway: str = Field(
        default="", description="The project's own Gateway, in its namespace: the parentRef of its HTTPRoutes "
                                "(one HTTPS listener *.<namespace>.<serving_ingress_domain>; '' when serving "
                                "is off).")


# Fields that more than one contract carries, defined once (the layer contracts hand them on to PlatformOutputs).
VpcId = Annotated[str, Field(description="VPC id (managed or brought).")]
PrivateSubnetIds = Annotated[list[str], Field(description="Private subnet ids, one per AZ.")]
ClusterName = Annotated[str, Field(description="EKS cluster name.")]
ClusterEndpoint = Annotated[str, Field(description="EKS API endpoint; set once every deployer has cluster access.")]
ClusterCaData = Annotated[str, Field(description="Base64 cluster CA certificate (for kubeconfigs).")]
OidcProviderArn = Annotated[str, Field(description="IAM OIDC provider ARN for IRSA trust policies.")]
OidcIssuerUrl = Annotated[str, Field(description="OIDC issuer URL of the cluster (IRSA).")]
Buckets = Annotated[dict[str, "BucketOutput"], Field(description="Bucket role (datasets, models, logs) -> bucket.")]
KmsKeyArns = Annotated[dict[str, str], Field(description="Key role (eks, s3, ecr, logs, ...) -> KMS key ARN.")]
RegistryUrls = Annotated[dict[str, str], Field(description="Platform ECR repository name -> URL.")]
MlflowUrl = Annotated[str, Field(description="In-cluster MLflow tracking + registry URL ('' when off).")]
PrometheusUrl = Annotated[str, Field(description="In-cluster Prometheus URL ('' when off).")]
ServingIngressDomain = Annotated[str, Field(description="Domain KServe routes models under.")]


class AwsLayerOutputs(_Out):
    """Stack outputs of an environment's `aws` layer, read by the `cluster` and `tenants` layers
    (see mlops_platform.layers). Not a public contract: projects read `PlatformOutputs`."""

    vpc_id: VpcId
    private_subnet_ids: PrivateSubnetIds
    cluster_name: ClusterName
    cluster_arn: str = Field(description="EKS cluster ARN.")
    cluster_endpoint: ClusterEndpoint
    cluster_ca_data: ClusterCaData
    cluster_security_group_id: str = Field(description="EKS-created cluster security group.")
    oidc_provider_arn: OidcProviderArn
    oidc_issuer_url: OidcIssuerUrl
    node_role_arn: str = Field(description="IAM role of the managed node groups.")
    karpenter_node_role: str = Field(
        default="", description="Name of the IAM role of Karpenter's GPU nodes ('' unless gpu.provisioner: "
                                "karpenter): its EC2NodeClasses' `role`.")
    karpenter_instance_profile: str = Field(
        default="", description="Instance profile of Karpenter's GPU nodes, made by the aws layer when nodes have "
                                "no internet egress (network.nat: none; '' otherwise): the EC2NodeClasses' "
                                "`instanceProfile` in place of `role`, so Karpenter never calls IAM.")
    karpenter_interruption_queue: str = Field(
        default="", description="SQS queue of spot interruption, rebalance, state-change and health events "
                                "('' unless gpu.provisioner: karpenter): Karpenter's settings.interruptionQueue.")
    github_oidc_provider_arn: str = Field(description="The account's GitHub Actions OIDC provider (created or reused).")
    deployer_project: str = Field(description="CodeBuild project of the in-VPC deploy runner ('' when off).")
    buckets: Buckets
    kms_key_arns: KmsKeyArns
    registry_urls: RegistryUrls
    lb_controller_role_arn: str = Field(
        default="", description="IRSA role of the AWS Load Balancer Controller ('' when serving is off).")
    tenant_shards: int = Field(
        default=1, ge=1, description="`tenants.shards`: how many stacks hold the environment's projects. Project "
                                     "stacks read it to find their shard's stack (core.shards.project_platform_stack); "
                                     "1 from platforms older than this output.")


class ClusterLayerOutputs(_Out):
    """Stack outputs of an environment's `cluster` layer, read by the `tenants` layer."""

    mlflow_url: MlflowUrl = ""
    prometheus_url: PrometheusUrl = ""
    serving_ingress_domain: ServingIngressDomain = ""
    tracking_logins: dict[str, str] = Field(
        default_factory=dict, description="Project -> its MLflow password (a secret output; the tenants layer "
                                          "puts each in its project's namespace, nowhere else).")


#: Cluster-layer outputs that stay between the layers (secrets): never part of `PlatformOutputs`.
CLUSTER_LAYER_PRIVATE = ("tracking_logins",)
#: Layer outputs that are secrets: read back through a StackReference they stay secret; every other field of
#: the layer contracts is plain (URLs, names, ARNs) and is re-exported unsecreted (aws/layer_outputs.py).
SECRET_LAYER_OUTPUTS = ("tracking_logins",)


class PlatformOutputs(_Out):
    """Stack outputs of one platform environment."""

    platform_version: str = Field(description="mlops-platform version that produced the stack.")
    environment: str = Field(description="Environment name (dev, staging, prod, ...).")
    tier: str = Field(description="Environment tier: dev | staging | prod.")
    region: str = Field(description="AWS region.")
    account_id: str = Field(description="AWS account id (12 digits).")
    vpc_id: VpcId
    private_subnet_ids: PrivateSubnetIds
    cluster_name: ClusterName
    cluster_endpoint: ClusterEndpoint
    cluster_version: str = Field(description="Kubernetes version of the control plane.")
    cluster_ca_data: ClusterCaData = ""
    oidc_issuer_url: OidcIssuerUrl
    oidc_provider_arn: OidcProviderArn
    buckets: Buckets
    registry_urls: RegistryUrls
    kms_key_arns: KmsKeyArns
    mlflow_url: MlflowUrl = ""
    serving_ingress_domain: ServingIngressDomain = ""
    prometheus_url: PrometheusUrl = ""
    drift_metric: str = Field(default=DRIFT_METRIC, description="Metric name the drift alert watches.")
    allow_external_webhooks: bool = Field(
        default=False, description="Projects' Canary webhooks may call external https URLs "
                                   "(serving.delivery.allow_external_webhooks); else only their namespace's Services.")
    gpu_pools: dict[str, GpuPoolOutput] = Field(
        default_factory=dict, description="GPU node pool name -> pool (what GPU workloads may select).")
    projects: dict[str, ProjectOutput] = Field(default_factory=dict, description="Onboarded projects.")
    tags: dict[str, str] = Field(description="Tags every resource of the environment carries.")
