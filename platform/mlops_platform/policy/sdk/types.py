"""Resource type tokens exactly as the engine sees them (pulumi-aws 7.x, pulumi-kubernetes 4.x)."""

from __future__ import annotations

from typing import Final

EKS_CLUSTER: Final = "aws:eks/cluster:Cluster"
#: Root components of an environment's in-cluster layer stacks (the aws layer stack holds the EKS cluster).
CLUSTER_LAYER: Final = "mlops:k8s:ClusterLayer"
TENANTS_LAYER: Final = "mlops:k8s:TenantsLayer"
NODE_GROUP: Final = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE: Final = "aws:ec2/launchTemplate:LaunchTemplate"
SECURITY_GROUP: Final = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE: Final = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE: Final = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

BUCKET: Final = "aws:s3/bucket:Bucket"
BUCKET_VERSIONING: Final = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_SSE: Final = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_PAB: Final = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_LOGGING: Final = "aws:s3/bucketLogging:BucketLogging"
BUCKET_LIFECYCLE: Final = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY: Final = "aws:s3/bucketPolicy:BucketPolicy"

ECR_REPOSITORY: Final = "aws:ecr/repository:Repository"
ECR_LIFECYCLE: Final = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
ECR_REPOSITORY_POLICY: Final = "aws:ecr/repositoryPolicy:RepositoryPolicy"
#: The settings of repositories ECR creates itself (pull-through cache, replication): aws/registry_cache.py.
ECR_CREATION_TEMPLATE: Final = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"

IAM_ROLE: Final = "aws:iam/role:Role"
IAM_POLICY: Final = "aws:iam/policy:Policy"
IAM_ROLE_POLICY: Final = "aws:iam/rolePolicy:RolePolicy"
IAM_ROLE_POLICY_ATTACHMENT: Final = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_OIDC_PROVIDER: Final = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
EKS_ADDON: Final = "aws:eks/addon:Addon"
EKS_POD_IDENTITY: Final = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
EKS_ACCESS_ENTRY: Final = "aws:eks/accessEntry:AccessEntry"
EKS_ACCESS_POLICY: Final = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"

KMS_KEY: Final = "aws:kms/key:Key"
KMS_KEY_POLICY: Final = "aws:kms/keyPolicy:KeyPolicy"
LOG_GROUP: Final = "aws:cloudwatch/logGroup:LogGroup"
RDS_INSTANCE: Final = "aws:rds/instance:Instance"
BUDGET: Final = "aws:budgets/budget:Budget"

K8S_DEPLOYMENT: Final = "kubernetes:apps/v1:Deployment"
K8S_STATEFULSET: Final = "kubernetes:apps/v1:StatefulSet"
K8S_DAEMONSET: Final = "kubernetes:apps/v1:DaemonSet"
K8S_JOB: Final = "kubernetes:batch/v1:Job"
K8S_CRONJOB: Final = "kubernetes:batch/v1:CronJob"
K8S_POD: Final = "kubernetes:core/v1:Pod"
K8S_SERVICE: Final = "kubernetes:core/v1:Service"
K8S_NAMESPACE: Final = "kubernetes:core/v1:Namespace"
K8S_RESOURCE_QUOTA: Final = "kubernetes:core/v1:ResourceQuota"
K8S_SERVICE_ACCOUNT: Final = "kubernetes:core/v1:ServiceAccount"
K8S_PDB: Final = "kubernetes:policy/v1:PodDisruptionBudget"
K8S_HPA: Final = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
K8S_NETWORK_POLICY: Final = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HELM_RELEASE: Final = "kubernetes:helm.sh/v3:Release"
# Custom resources register as kubernetes:<apiVersion>:<kind>.
KSERVE_INFERENCE_SERVICE: Final = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
FLAGGER_CANARY: Final = "kubernetes:flagger.app/v1beta1:Canary"
FLAGGER_METRIC_TEMPLATE: Final = "kubernetes:flagger.app/v1beta1:MetricTemplate"
KEDA_SCALED_OBJECT: Final = "kubernetes:keda.sh/v1alpha1:ScaledObject"
RAY_CLUSTER: Final = "kubernetes:ray.io/v1:RayCluster"
KARPENTER_NODEPOOL: Final = "kubernetes:karpenter.sh/v1:NodePool"
KARPENTER_NODECLASS: Final = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RAY_JOB: Final = "kubernetes:ray.io/v1:RayJob"
RAY_SERVICE: Final = "kubernetes:ray.io/v1:RayService"
ARGO_WORKFLOW: Final = "kubernetes:argoproj.io/v1alpha1:Workflow"
ARGO_WORKFLOW_TEMPLATE: Final = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
ARGO_CRON_WORKFLOW: Final = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
KUEUE_LOCAL_QUEUE: Final = "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue"

#: AWS types whose inputs take `tags` (the required-tags policy checks these).
TAGGABLE: Final = frozenset({
    EKS_CLUSTER, NODE_GROUP, LAUNCH_TEMPLATE, SECURITY_GROUP, BUCKET, ECR_REPOSITORY, IAM_ROLE, IAM_POLICY,
    IAM_OIDC_PROVIDER, KMS_KEY, LOG_GROUP, RDS_INSTANCE, BUDGET, EKS_ADDON, EKS_POD_IDENTITY,
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip",
    "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable", "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:ec2/flowLog:FlowLog", "aws:sns/topic:Topic", "aws:rds/subnetGroup:SubnetGroup",
    "aws:rds/parameterGroup:ParameterGroup", "aws:eks/accessEntry:AccessEntry", "aws:secretsmanager/secret:Secret",
    "aws:sqs/queue:Queue", "aws:dynamodb/table:Table", "aws:iam/instanceProfile:InstanceProfile",
})
