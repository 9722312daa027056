"""Experiment tracking and model registry: an MLflow server in the cluster (internal ClusterIP only),
backed by an encrypted, private RDS PostgreSQL (built by `aws.tracking_database`, owned by this feature)
and the models bucket (under `mlflow/`) through IRSA.

The database password is generated, handed to RDS and stored only in a Kubernetes Secret that the pod
mounts as a file (never an environment variable, never plain config). Artifacts are proxied by the
server (`--serve-artifacts`), so clients need no S3 access of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlops_platform.aws.layer_outputs import BucketRef
from mlops_platform.aws.tracking_database import DB_NAME, DB_USER, TrackingDatabaseArgs, tracking_database
from mlops_platform.core import iam
from mlops_platform.core.naming import iam_name
from mlops_platform.core.versions import IMAGES
from mlops_platform.k8s import manifests as m
from mlops_platform.k8s._helm import namespace
from mlops_platform.k8s.netpol import tracking_policies
from mlops_platform.k8s.provider import k8s_opts

TRACKING_NAMESPACE = "mlflow"
APP = "mlflow"
PORT = 5000
ARTIFACT_PREFIX = "mlflow/"
DB_SECRET = "mlflow-db"
SERVICE_HOST = f"{APP}.{TRACKING_NAMESPACE}.svc.cluster.local"
MLFLOW_URL = f"http://{SERVICE_HOST}:{PORT}"


@dataclass(frozen=True, kw_only=True)
class TrackingArgs:
    """Arguments of `Tracking`."""

    cluster_name: str
    """Names the database, its subnet group, security group and the MLflow IAM role. Required."""
    k8s_version: str
    """Kubernetes minor version of the namespace's PSA labels. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the database's security group. Required."""
    private_subnet_ids: pulumi.Input[list[str]]
    """Subnets of the database subnet group. Required."""
    cluster_security_group_id: pulumi.Input[str]
    """The only security group the database admits (the cluster's pods). Required."""
    models_bucket: BucketRef
    """Bucket of MLflow's artifact store. Required."""
    s3_key_arn: pulumi.Input[str]
    """Key of the models bucket (MLflow's role may use it). Required."""
    db_key_arn: pulumi.Input[str]
    """The environment's RDS key (`aws.keys`: rotated, protected in prod). Required."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider (trust of the MLflow role). Required."""
    oidc_issuer_host: pulumi.Input[str]
    """The issuer URL without https:// (IAM condition keys use it). Required."""
    db_instance_class: str
    """RDS instance class, e.g. `db.t4g.medium`. Required."""
    db_storage_gib: int
    """Allocated storage of the database, GiB. Required."""
    backup_days: int
    """Automated backup retention, days. Required."""
    multi_az: bool
    """A standby in another AZ. Required."""
    deletion_protection: bool
    """RDS deletion protection with a final snapshot, and Pulumi protect. Required."""
    tags: dict[str, str]
    """Tags of the AWS resources. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    replicas: int = 1
    """MLflow server replicas. Default: 1."""
    client_label: str = "mlops.io/project"
    """Namespaces labelled with this key (project namespaces) may call MLflow. Default: `mlops.io/project`."""
    monitoring_namespace: str | None = None
    """Admit Prometheus from this namespace to scrape MLflow. Default: none."""


def allowed_hosts() -> str:
    """Host headers MLflow accepts (its DNS-rebinding guard): the Service's in-cluster names, with and
    without the port, and localhost for the probes."""
    names = [SERVICE_HOST, f"{APP}.{TRACKING_NAMESPACE}.svc", f"{APP}.{TRACKING_NAMESPACE}", APP, "localhost"]
    return ",".join(h for n in names for h in (n, f"{n}:{PORT}"))


def server_command(artifacts_uri: str) -> list[str]:
    """Start MLflow with the DB URI read from the mounted secret file (kept out of env and pod spec)."""
    script = ('exec mlflow server --host 0.0.0.0 --port "$MLFLOW_PORT" '
              '--backend-store-uri "$(cat /etc/mlflow/db/uri)" --serve-artifacts '
              f'--artifacts-destination "{artifacts_uri}" --allowed-hosts "{allowed_hosts()}"')
    return ["/bin/sh", "-c", script]


def db_uri(host: str, password: str) -> str:
    return f"postgresql://{DB_USER}:{password}@{host}:5432/{DB_NAME}?sslmode=require"


def deployment_spec(artifacts_uri: str, replicas: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": APP}
    tmp_volume, tmp_mount = m.tmp_volume()
    container = {
        "name": APP, "image": IMAGES["mlflow"], "command": server_command(artifacts_uri),
        "env": [{"name": "MLFLOW_PORT", "value": str(PORT)}, {"name": "HOME", "value": "/tmp"}],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": m.resources("250m", "1Gi", memory_limit="2Gi"),
        "securityContext": m.container_security_context(),
        "livenessProbe": m.http_probe("/health", "http", initial_delay=30),
        "readinessProbe": m.http_probe("/health", "http", initial_delay=10),
        "volumeMounts": [tmp_mount, {"name": "db", "mountPath": "/etc/mlflow/db", "readOnly": True}],
    }
    pod = {"serviceAccountName": APP, "securityContext": m.pod_security_context(),
           "containers": [container], "topologySpreadConstraints": m.topology_spread(labels),
           "volumes": [tmp_volume, {"name": "db", "secret": {"secretName": DB_SECRET, "defaultMode": 0o440}}]}
    return {"replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod}}


class Tracking(pulumi.ComponentResource):
    """MLflow tracking server + registry: RDS PostgreSQL, IRSA to `s3://models/mlflow/`, internal Service."""

    url: str

    def __init__(self, name: str, args: TrackingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Tracking", name, None, opts)
        password = random.RandomPassword(f"{name}-db-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        self.database = tracking_database(name, TrackingDatabaseArgs(
            cluster_name=args.cluster_name, vpc_id=args.vpc_id, subnet_ids=args.private_subnet_ids,
            client_security_group_id=args.cluster_security_group_id, key_arn=args.db_key_arn,
            password=password.result, instance_class=args.db_instance_class, storage_gib=args.db_storage_gib,
            backup_days=args.backup_days, multi_az=args.multi_az, deletion_protection=args.deletion_protection,
            tags=args.tags), self)
        ns = namespace(f"{name}-ns", TRACKING_NAMESPACE, "restricted", args.k8s_version, k8s_opts(self, args.provider),
                       policies=tracking_policies(args.client_label, PORT, args.monitoring_namespace))
        inside = k8s_opts(self, args.provider, [ns])
        role_arn = self._identity(name, args)
        k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=m.meta(APP, TRACKING_NAMESPACE, None,
                                                                 m.irsa_annotation(role_arn)),
                                   automount_service_account_token=False, opts=inside)
        uri: pulumi.Output[str] = pulumi.Output.all(self.database.address, password.result).apply(
            lambda v: db_uri(str(v[0]), str(v[1])))
        secret_uri: pulumi.Output[str] = pulumi.Output.secret(uri)
        secret = k8s.core.v1.Secret(f"{name}-db-secret", metadata=m.meta(DB_SECRET, TRACKING_NAMESPACE), type="Opaque",
                                    string_data={"uri": secret_uri}, opts=inside)
        artifacts = pulumi.Output.concat("s3://", args.models_bucket.name, "/", ARTIFACT_PREFIX)
        k8s.apps.v1.Deployment(f"{name}-deployment", metadata=m.meta(APP, TRACKING_NAMESPACE),
                               spec=artifacts.apply(lambda a: deployment_spec(a, args.replicas)),
                               opts=k8s_opts(self, args.provider, [ns, secret, self.database]))
        k8s.core.v1.Service(f"{name}-service", metadata=m.meta(APP, TRACKING_NAMESPACE), spec={
            "type": "ClusterIP", "selector": {"app.kubernetes.io/name": APP},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]}, opts=inside)
        self.url = MLFLOW_URL
        self.register_outputs({"url": MLFLOW_URL, "db_address": self.database.address})

    def _identity(self, name: str, args: TrackingArgs) -> pulumi.Output[str]:
        trust = iam.irsa_trust(args.oidc_provider_arn, args.oidc_issuer_host, TRACKING_NAMESPACE, APP)
        role = aws.iam.Role(f"{name}-role", name=iam_name(args.cluster_name, "mlflow"),
                            assume_role_policy=iam.to_json(trust), tags=args.tags,
                            opts=pulumi.ResourceOptions(parent=self))
        policy = iam.document(*iam.s3_prefix_access(args.models_bucket.arn, ARTIFACT_PREFIX),
                              iam.kms_use([args.s3_key_arn]))
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=iam.to_json(policy),
                           opts=pulumi.ResourceOptions(parent=self))
        return role.arn
