"""The MLflow database: an encrypted, private, TLS-only RDS PostgreSQL that only the cluster reaches.

The tracking feature (`k8s.tracking.Tracking`) owns it and creates it as its child; the AWS resources are
built here, beside the other AWS components, so the in-cluster package holds Kubernetes resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.core.versions import POSTGRES_ENGINE_VERSION, POSTGRES_PARAMETER_FAMILY

DB_NAME = "mlflow"
DB_USER = "mlflow"


@dataclass(frozen=True, kw_only=True)
class TrackingDatabaseArgs:
    """What the database is built from (all required; the tracking feature passes its own args through)."""

    cluster_name: str
    """Names the instance (`<cluster>-mlflow`), its subnet group, security group and final snapshot."""
    vpc_id: pulumi.Input[str]
    """VPC of the security group."""
    subnet_ids: pulumi.Input[list[str]]
    """Private subnets of the subnet group."""
    client_security_group_id: pulumi.Input[str]
    """The only security group admitted on 5432 (the cluster's)."""
    key_arn: pulumi.Input[str]
    """KMS key of storage, Performance Insights and the RDS-managed master secret."""
    instance_class: str
    """RDS instance class."""
    storage_gib: int
    """Allocated storage, GiB (autoscaling up to 4x)."""
    backup_days: int
    """Automated backup retention, days."""
    multi_az: bool
    """A standby in another AZ."""
    deletion_protection: bool
    """Deletion protection with a final snapshot, and Pulumi protect."""
    tags: dict[str, str]
    """Tags of every resource."""


def tracking_database(name: str, args: TrackingDatabaseArgs, parent: pulumi.Resource) -> aws.rds.Instance:
    """Subnet group, security group, TLS-only parameter group and the instance, as children of `parent`.

    manage_master_user_password: RDS generates, stores (Secrets Manager, under `key_arn`) and rotates the
    master password; Pulumi never sees it, so no state file or preview holds it. The server reads it with
    its IRSA role (`master_user_secrets[0].secret_arn`)."""
    # A retained instance keeps using its subnet group, security group and parameter group: deleting any of
    # them fails (InvalidDBSubnetGroupStateFault, DependencyViolation, InvalidDBParameterGroupState), so they
    # are retained with it. The VPC and subnets they sit in then cannot be deleted either: a forced prod
    # destroy stops at the network (docs/operations.md).
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html
    # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBSubnetGroup.html
    child = pulumi.ResourceOptions(parent=parent, retain_on_delete=args.deletion_protection)
    subnets = aws.rds.SubnetGroup(f"{name}-db-subnets", name=f"{args.cluster_name}-mlflow",
                                  subnet_ids=args.subnet_ids, tags=args.tags, opts=child)
    sg = aws.ec2.SecurityGroup(
        f"{name}-db-sg", name=f"{args.cluster_name}-mlflow-db", vpc_id=args.vpc_id,
        description="MLflow database: PostgreSQL from the EKS cluster only",
        ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=5432, to_port=5432,
                                                  security_groups=[args.client_security_group_id],
                                                  description="PostgreSQL from cluster nodes and pods")],
        tags=args.tags, opts=child)
    params = aws.rds.ParameterGroup(
        f"{name}-db-params", family=POSTGRES_PARAMETER_FAMILY, description="TLS-only connections",
        parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")], tags=args.tags,
        opts=child)
    return aws.rds.Instance(
        f"{name}-db", identifier=f"{args.cluster_name}-mlflow", engine="postgres",
        engine_version=POSTGRES_ENGINE_VERSION, instance_class=args.instance_class,
        allocated_storage=args.storage_gib, max_allocated_storage=args.storage_gib * 4, storage_type="gp3",
        storage_encrypted=True, kms_key_id=args.key_arn, db_name=DB_NAME, username=DB_USER,
        manage_master_user_password=True, master_user_secret_kms_key_id=args.key_arn,
        db_subnet_group_name=subnets.name, vpc_security_group_ids=[sg.id], parameter_group_name=params.name,
        publicly_accessible=False, multi_az=args.multi_az, backup_retention_period=args.backup_days,
        deletion_protection=args.deletion_protection, skip_final_snapshot=not args.deletion_protection,
        final_snapshot_identifier=f"{args.cluster_name}-mlflow-final" if args.deletion_protection else None,
        copy_tags_to_snapshot=True, auto_minor_version_upgrade=True, iam_database_authentication_enabled=True,
        performance_insights_enabled=True, performance_insights_kms_key_id=args.key_arn,
        enabled_cloudwatch_logs_exports=["postgresql"], tags=args.tags,
        # Retained too: a forced destroy leaves the database (and its final snapshot) in the account.
        opts=pulumi.ResourceOptions(parent=parent, protect=args.deletion_protection,
                                    retain_on_delete=args.deletion_protection))
