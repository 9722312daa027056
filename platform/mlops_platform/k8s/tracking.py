"""Experiment tracking and model registry: one MLflow server in the cluster (internal ClusterIP only),
shared by the projects but isolated per project, backed by an encrypted, private RDS PostgreSQL (built by
`aws.tracking_database`, owned by this feature).

Isolation (docs/kubernetes-layer.md, "Tracking"): MLflow's basic-auth app with
`default_permission = NO_PERMISSIONS` and one user per project, so a project sees only the experiments
and models it created; the server runs `--no-serve-artifacts`, so artifacts never pass through it —
each project writes them under its own S3 prefix with its own IRSA role, and the server's role has no
S3 access at all. RDS manages the master password in Secrets Manager (nothing in Pulumi state); the
server reads it at start with its IRSA role. The per-project passwords are generated here (Pulumi
secrets) and reach the server (one Secret in this namespace) and each project (a Secret in its
namespace, see tenancy.ProjectTenant).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlops_platform.aws.layer_outputs import BucketRef
from mlops_platform.aws.tracking_database import DB_NAME, TrackingDatabaseArgs, tracking_database
from mlops_platform.core import iam
from mlops_platform.core.naming import iam_name
from mlops_platform.k8s import manifests as m
from mlops_platform.k8s import mlflow_boot as boot
from mlops_platform.k8s._helm import namespace
from mlops_platform.k8s.netpol import tracking_policies
from mlops_platform.k8s.provider import k8s_opts

TRACKING_NAMESPACE = "mlflow"
APP = "mlflow"
PORT = 5000
#: Default artifact root of experiments created without a location: no role can write there, so such
#: an experiment fails closed. Projects create theirs under `projects/<name>/mlflow/` (artifact_uri).
ARTIFACT_PREFIX = "mlflow/"
AUTH_SECRET = "mlflow-auth"
BOOT_CONFIGMAP = "mlflow-boot"
AUTH_DIR = "/etc/mlflow/auth"
BOOT_DIR = "/etc/mlflow/boot"
SERVICE_HOST = f"{APP}.{TRACKING_NAMESPACE}.svc.cluster.local"
MLFLOW_URL = f"http://{SERVICE_HOST}:{PORT}"
BOOT_SOURCE = Path(boot.__file__).read_text()


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
    """Names the default artifact root only (`mlflow/`, writable by no role): the server gets no S3 access.
    Required."""
    db_key_arn: pulumi.Input[str]
    """The environment's RDS key (`aws.keys`: rotated, protected in prod): storage, Performance Insights and
    the RDS-managed master secret. Required."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IRSA OIDC provider (trust of the MLflow role). Required."""
    oidc_issuer_host: pulumi.Input[str]
    """The issuer URL without https:// (IAM condition keys use it). Required."""
    image: pulumi.Input[str]
    """The MLflow image mirrored in the platform's ECR (`versions.MIRRORED_IMAGES`). Required."""
    projects: tuple[str, ...]
    """Project slugs, one MLflow user each (may be empty). Required."""
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


def boot_environment(db_secret_arn: str, db_host: str, artifact_root: str) -> list[dict[str, str]]:
    """What the boot script reads (mlflow_boot.ENV_*): where the database and its secret are, no secret."""
    values = {boot.ENV_PORT: str(PORT), boot.ENV_DB_SECRET_ARN: db_secret_arn, boot.ENV_DB_HOST: db_host,
              boot.ENV_DB_NAME: DB_NAME, boot.ENV_AUTH_DIR: AUTH_DIR, boot.ENV_ALLOWED_HOSTS: allowed_hosts(),
              boot.ENV_ARTIFACT_ROOT: artifact_root, boot.ENV_WORK_DIR: "/tmp", "HOME": "/tmp",
              "MLFLOW_DISABLE_TELEMETRY": "true"}
    return [{"name": k, "value": v} for k, v in values.items()]


def users_fingerprint(projects: tuple[str, ...]) -> str:
    """Pod annotation that changes with the user set or the boot script, so the server restarts and syncs."""
    return hashlib.sha256("\n".join([*sorted(projects), BOOT_SOURCE]).encode()).hexdigest()[:16]


def deployment_spec(image: str, env: list[dict[str, str]], projects: tuple[str, ...], replicas: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": APP}
    tmp_volume, tmp_mount = m.tmp_volume()
    container = {
        "name": APP, "image": image, "command": ["python", f"{BOOT_DIR}/boot.py"], "env": env,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": m.resources("250m", "1Gi", memory_limit="2Gi"),
        "securityContext": m.container_security_context(),
        "livenessProbe": m.http_probe("/health", "http", initial_delay=60),
        "readinessProbe": m.http_probe("/health", "http", initial_delay=20),
        "volumeMounts": [tmp_mount, {"name": "boot", "mountPath": BOOT_DIR, "readOnly": True},
                         {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True}],
    }
    # no Kubernetes API token (IRSA's webhook mounts its own AWS token)
    pod = {"serviceAccountName": APP, "automountServiceAccountToken": False,
           "securityContext": m.pod_security_context(),
           "containers": [container], "topologySpreadConstraints": m.topology_spread(labels),
           "volumes": [tmp_volume, {"name": "boot", "configMap": {"name": BOOT_CONFIGMAP, "defaultMode": 0o444}},
                       {"name": "auth", "secret": {"secretName": AUTH_SECRET, "defaultMode": 0o440}}]}
    annotations = {"mlops.io/tracking-users": users_fingerprint(projects)}
    return {"replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod}}


def _master_secret_arn(secrets: Sequence[Any] | None) -> str:
    return str(secrets[0].secret_arn or "") if secrets else ""


class Tracking(pulumi.ComponentResource):
    """MLflow tracking server + registry with one user per project; `credentials` maps project -> password."""

    url: str
    credentials: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: TrackingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Tracking", name, None, opts)
        self.database = tracking_database(name, TrackingDatabaseArgs(
            cluster_name=args.cluster_name, vpc_id=args.vpc_id, subnet_ids=args.private_subnet_ids,
            client_security_group_id=args.cluster_security_group_id, key_arn=args.db_key_arn,
            instance_class=args.db_instance_class, storage_gib=args.db_storage_gib,
            backup_days=args.backup_days, multi_az=args.multi_az, deletion_protection=args.deletion_protection,
            tags=args.tags), self)
        secret_arn = self.database.master_user_secrets.apply(_master_secret_arn)
        ns = namespace(f"{name}-ns", TRACKING_NAMESPACE, "restricted", args.k8s_version, k8s_opts(self, args.provider),
                       policies=tracking_policies(args.client_label, PORT, args.monitoring_namespace))
        inside = k8s_opts(self, args.provider, [ns])
        role_arn = self._identity(name, args, secret_arn)
        k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=m.meta(APP, TRACKING_NAMESPACE, None,
                                                                 m.irsa_annotation(role_arn)),
                                   automount_service_account_token=False, opts=inside)
        auth = self._auth_secret(name, args, inside)
        boot_cm = k8s.core.v1.ConfigMap(f"{name}-boot", metadata=m.meta(BOOT_CONFIGMAP, TRACKING_NAMESPACE),
                                        data={"boot.py": BOOT_SOURCE}, opts=inside)
        root = pulumi.Output.concat("s3://", args.models_bucket.name, "/", ARTIFACT_PREFIX)
        spec = pulumi.Output.all(args.image, secret_arn, self.database.address, root).apply(
            lambda v: deployment_spec(str(v[0]), boot_environment(str(v[1]), str(v[2]), str(v[3])),
                                      args.projects, args.replicas))
        k8s.apps.v1.Deployment(f"{name}-deployment", metadata=m.meta(APP, TRACKING_NAMESPACE), spec=spec,
                               opts=k8s_opts(self, args.provider, [ns, auth, boot_cm, self.database]))
        k8s.core.v1.Service(f"{name}-service", metadata=m.meta(APP, TRACKING_NAMESPACE), spec={
            "type": "ClusterIP", "selector": {"app.kubernetes.io/name": APP},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]}, opts=inside)
        if args.replicas > 1:  # a node drain or upgrade never takes every replica at once
            k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=m.meta(APP, TRACKING_NAMESPACE), spec={
                "minAvailable": args.replicas - 1, "selector": {"matchLabels": {"app.kubernetes.io/name": APP}}},
                opts=inside)
        self.url = MLFLOW_URL
        self.register_outputs({"url": MLFLOW_URL, "db_address": self.database.address})

    def _password(self, name: str) -> pulumi.Output[str]:
        return random.RandomPassword(name, length=32, special=False, opts=pulumi.ResourceOptions(parent=self)).result

    def _auth_secret(self, name: str, args: TrackingArgs, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        """Admin password, the auth app's CSRF key and project -> password, for the server only."""
        self.credentials = {p: self._password(f"{name}-user-{p}") for p in args.projects}
        data: dict[str, pulumi.Output[str]] = {"admin-password": self._password(f"{name}-admin-password"),
                                               "flask-secret-key": self._password(f"{name}-flask-secret-key"),
                                               "users.json": pulumi.Output.json_dumps(self.credentials)}
        hidden: dict[str, pulumi.Input[str]] = {k: pulumi.Output.secret(v) for k, v in data.items()}
        return k8s.core.v1.Secret(f"{name}-auth", metadata=m.meta(AUTH_SECRET, TRACKING_NAMESPACE), type="Opaque",
                                  string_data=hidden, opts=opts)

    def _identity(self, name: str, args: TrackingArgs, secret_arn: pulumi.Output[str]) -> pulumi.Output[str]:
        """Read the database's master secret, nothing else: no S3 (artifacts never pass the server)."""
        trust = iam.irsa_trust(args.oidc_provider_arn, args.oidc_issuer_host, TRACKING_NAMESPACE, APP)
        role = aws.iam.Role(f"{name}-role", name=iam_name(args.cluster_name, "mlflow"),
                            assume_role_policy=iam.to_json(trust), tags=args.tags,
                            opts=pulumi.ResourceOptions(parent=self))
        policy = iam.document(iam.statement(["secretsmanager:GetSecretValue"], [secret_arn], sid="ReadDatabaseSecret"),
                              iam.statement(["kms:Decrypt"], [args.db_key_arn], sid="DecryptDatabaseSecret"))
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=iam.to_json(policy),
                           opts=pulumi.ResourceOptions(parent=self))
        return role.arn
