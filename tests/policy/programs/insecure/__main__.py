"""Everything a rushed ML infra program gets wrong. Never deploy this: it exists to be caught by the pack."""

import json

import pulumi_aws as aws
import pulumi_kubernetes as k8s


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


cluster = aws.eks.Cluster(
    "cluster", role_arn="arn:aws:iam::123456789012:role/eks", version="1.29",
    vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-1", "subnet-2"], endpoint_public_access=True))
template = aws.ec2.LaunchTemplate(
    "nodes", metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="optional",
                                                                         http_put_response_hop_limit=2),
    block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(volume_size=200))],
    network_interfaces=[aws.ec2.LaunchTemplateNetworkInterfaceArgs(associate_public_ip_address="true")])
aws.eks.NodeGroup(
    "gpus", cluster_name=cluster.name, node_role_arn="arn:aws:iam::123456789012:role/node",
    subnet_ids=["subnet-1"], instance_types=["g5.12xlarge"], ami_type="AL2023_x86_64_STANDARD",
    scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=0, desired_size=0, max_size=100),
    remote_access=aws.eks.NodeGroupRemoteAccessArgs(ec2_ssh_key="laptop"))
aws.ec2.SecurityGroup("ssh", ingress=[aws.ec2.SecurityGroupIngressArgs(
    protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"])])

bucket = aws.s3.Bucket("datasets", acl="public-read")
aws.s3.BucketPolicy("datasets-policy", bucket=bucket.id, policy=doc(
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::datasets/*"}))

repo = aws.ecr.Repository("images", image_tag_mutability="MUTABLE")
aws.ecr.RepositoryPolicy("images-policy", repository=repo.name, policy=doc(
    {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}))

role = aws.iam.Role("trainer", assume_role_policy=doc(
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))
aws.iam.RolePolicy("trainer-everything", role=role.name, policy=doc(
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}))
aws.iam.RolePolicyAttachment("trainer-admin", role=role.name,
                             policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")

aws.kms.Key("key", policy=doc({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}))
aws.cloudwatch.LogGroup("training-logs")
aws.rds.Instance("metadata-db", engine="postgres", instance_class="db.t4g.micro", allocated_storage=20,
                 publicly_accessible=True, backup_retention_period=0, username="admin", password="hunter2-hunter2")

namespace = k8s.core.v1.Namespace("team", metadata={"name": "team", "labels": {"mlops.io/project": "team"}})
labels = {"app": "model", "app.kubernetes.io/component": "serving"}
k8s.apps.v1.Deployment(
    "model", metadata={"namespace": "team", "labels": labels},
    spec={"replicas": 1, "selector": {"matchLabels": labels}, "template": {
        "metadata": {"labels": labels},
        "spec": {"hostNetwork": True,
                 "volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}],
                 "containers": [{"name": "model", "image": "pytorch/pytorch",
                                 "resources": {"requests": {"nvidia.com/gpu": 1}},
                                 "securityContext": {"privileged": True},
                                 "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI/K7MDENG"}]}]}}},
    opts=None)
k8s.core.v1.Service("model-lb", metadata={"namespace": "team"},
                    spec={"type": "LoadBalancer", "selector": labels, "ports": [{"port": 80}]})
k8s.helm.v3.Release("dashboard", chart="kubernetes-dashboard", namespace="team")
