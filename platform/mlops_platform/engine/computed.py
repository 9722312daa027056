"""What the cloud would compute for a resource (ids, ARNs, endpoints), so programs can wire outputs.

Offline values are deterministic and obviously fake (account/region from the stack, names from the
resource), which keeps plans reproducible and keeps review fixtures stable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

State = dict[str, Any]


@dataclass(frozen=True)
class Ctx:
    account: str
    region: str


def fake_id(prefix: str, name: str, width: int = 17) -> str:
    return f"{prefix}-{hashlib.sha1(name.encode()).hexdigest()[:width]}"


def _arn(ctx: Ctx, service: str, resource: str, regional: bool = True) -> str:
    region = ctx.region if regional else ""
    return f"arn:aws:{service}:{region}:{ctx.account}:{resource}"


def _eks_cluster(name: str, inputs: State, ctx: Ctx) -> State:
    cname = inputs.get("name", name)
    oidc = f"https://oidc.eks.{ctx.region}.amazonaws.com/id/{hashlib.sha1(cname.encode()).hexdigest()[:32].upper()}"
    return {"name": cname, "arn": _arn(ctx, "eks", f"cluster/{cname}"),
            "endpoint": f"https://{hashlib.md5(cname.encode()).hexdigest().upper()}.gr7.{ctx.region}.eks.amazonaws.com",
            "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk9GRkxJTkUKLS0tLS1FTkQ="},
            "identities": [{"oidcs": [{"issuer": oidc}]}],
            "vpcConfig": {**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": fake_id("sg", cname)},
            "platformVersion": "eks.1", "status": "ACTIVE"}


def _oidc_provider(name: str, inputs: State, ctx: Ctx) -> State:
    host = str(inputs.get("url", name)).removeprefix("https://")
    return {"arn": _arn(ctx, "iam", f"oidc-provider/{host}", regional=False)}


def _named_arn(service: str, kind: str, key: str = "name", regional: bool = True,
               sep: str = "/") -> Callable[..., State]:
    def compute(name: str, inputs: State, ctx: Ctx) -> State:
        value = inputs.get(key) or name
        return {key: value, "arn": _arn(ctx, service, f"{kind}{sep}{value}" if kind else value, regional)}
    return compute


def _bucket(name: str, inputs: State, ctx: Ctx) -> State:
    bucket = inputs.get("bucket") or name
    return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{ctx.region}.amazonaws.com"}


def _ecr_repo(name: str, inputs: State, ctx: Ctx) -> State:
    repo = inputs.get("name") or name
    return {"name": repo, "arn": _arn(ctx, "ecr", f"repository/{repo}"), "registryId": ctx.account,
            "repositoryUrl": f"{ctx.account}.dkr.ecr.{ctx.region}.amazonaws.com/{repo}"}


def _kms_key(name: str, inputs: State, ctx: Ctx) -> State:
    key_id = hashlib.sha1(name.encode()).hexdigest()[:32]
    key_id = f"{key_id[:8]}-{key_id[8:12]}-{key_id[12:16]}-{key_id[16:20]}-{key_id[20:32]}"
    return {"keyId": key_id, "arn": _arn(ctx, "kms", f"key/{key_id}")}


def _node_group(name: str, inputs: State, ctx: Ctx) -> State:
    # name_prefix: the provider appends a 26-character unique suffix (a timestamp and counter)
    ng = inputs.get("nodeGroupName") or (f"{inputs['nodeGroupNamePrefix']}20260101000000000000000001"
                                         if inputs.get("nodeGroupNamePrefix") else name)
    return {"nodeGroupName": ng, "arn": _arn(ctx, "eks", f"nodegroup/{ng}"),
            "resources": [{"autoscalingGroups": [{"name": f"eks-{ng}-{fake_id('asg', ng, 8)}"}]}], "status": "ACTIVE"}


def _rds(name: str, inputs: State, ctx: Ctx) -> State:
    ident = inputs.get("identifier") or name
    host = f"{ident}.{hashlib.sha1(ident.encode()).hexdigest()[:12]}.{ctx.region}.rds.amazonaws.com"
    out = {"identifier": ident, "arn": _arn(ctx, "rds", f"db:{ident}"), "address": host,
           "endpoint": f"{host}:5432", "port": 5432}
    if inputs.get("manageMasterUserPassword"):
        # RDS names the secret it manages `rds!db-<resource id>` (+ Secrets Manager's 6-character suffix)
        secret = f"secret:rds!db-{hashlib.sha1(ident.encode()).hexdigest()[:8]}-{fake_id('x', ident, 6)[2:]}"
        out["masterUserSecrets"] = [{"secretArn": _arn(ctx, "secretsmanager", secret),
                                     "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                                     "secretStatus": "active"}]
    return out


def _random_password(name: str, inputs: State, ctx: Ctx) -> State:
    # Deterministic and never a real credential; the engine records it as a secret.
    return {"result": "offline-" + hashlib.sha256(name.encode()).hexdigest()[:24]}


COMPUTERS: dict[str, Callable[[str, State, Ctx], State]] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:iam/role:Role": _named_arn("iam", "role", regional=False),
    "aws:iam/policy:Policy": _named_arn("iam", "policy", regional=False),
    "aws:s3/bucket:Bucket": _bucket,
    "aws:ecr/repository:Repository": _ecr_repo,
    "aws:kms/key:Key": _kms_key,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:rds/instance:Instance": _rds,
    # arn:aws:logs:REGION:ACCOUNT:log-group:NAME (a colon: IAM's log-group resource type)
    "aws:cloudwatch/logGroup:LogGroup": _named_arn("logs", "log-group", sep=":"),
    "aws:sns/topic:Topic": _named_arn("sns", ""),
    "aws:ec2/launchTemplate:LaunchTemplate": lambda n, i, c: {
        "latestVersion": 1, "arn": _arn(c, "ec2", f"launch-template/{fake_id('lt', n)}")},
    "random:index/randomPassword:RandomPassword": _random_password,
}

_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc", "aws:ec2/subnet:Subnet": "subnet", "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/natGateway:NatGateway": "nat", "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/eip:Eip": "eipalloc", "aws:ec2/routeTable:RouteTable": "rtb", "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
}


def compute_state(type_: str, name: str, inputs: State, ctx: Ctx) -> tuple[str, State]:
    """(physical id, outputs) for a registered resource."""
    computer = COMPUTERS.get(type_)
    extra = computer(name, inputs, ctx) if computer else _default_outputs(type_, name, ctx)
    prefix = _ID_PREFIX.get(type_)
    rid = fake_id(prefix, name) if prefix else str(extra.get("name") or extra.get("bucket") or f"{name}-id")
    return rid, {**inputs, **extra}


def _default_outputs(type_: str, name: str, ctx: Ctx) -> State:
    """Every AWS resource gets an ARN so programs can reference it; others keep their inputs."""
    if not type_.startswith("aws:"):
        return {}
    service = type_.split(":")[1].split("/")[0]
    return {"arn": _arn(ctx, service, f"{type_.rsplit(':', 1)[1].lower()}/{name}")}
