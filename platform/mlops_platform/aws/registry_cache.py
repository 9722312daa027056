"""ECR pull-through cache of an air-gapped environment (core/image_mirror.py): one cache rule per upstream
registry, the template the repositories it creates get, and the node permissions a first pull needs.

Facts (Amazon ECR User Guide):
- pull-through-cache-creating-rule.html: one rule per upstream; Docker Hub and GitHub Container Registry
  need a Secrets Manager credential named `ecr-pullthroughcache/...` in the rule's account and Region.
- repository-creation-templates-create.html / -create-iam.html / -custom.html: a template with KMS encryption
  or resource tags needs a custom role trusted by ecr.amazonaws.com with ecr:CreateRepository,
  ecr:ReplicateImage, ecr:TagResource and kms:CreateGrant, kms:RetireGrant, kms:DescribeKey; the template's
  prefix is the rule's prefix (API Reference, CreateRepositoryCreationTemplate `prefix`).
- pull-through-cache-iam.html: the principal whose pull creates a cached repository needs
  ecr:CreateRepository and ecr:BatchImportUpstreamImage (the nodes' role: kubelet pulls with it).
- Tags stay MUTABLE: the cache keeps a repository in sync with its upstream only while its tags are mutable
  (HealthOmics Guide, containers-ptc-registries.html, on the same ECR feature).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts
from mlops_platform.aws.ecr import lifecycle_policy
from mlops_platform.core import iam
from mlops_platform.core.image_mirror import PULL_THROUGH_UPSTREAMS, Mirror, Upstream

FIRST_PULL_ACTIONS = ("ecr:CreateRepository", "ecr:BatchImportUpstreamImage")
TEMPLATE_ROLE_ACTIONS = ("ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource")
TEMPLATE_KEY_ACTIONS = ("kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey")


@dataclass(frozen=True, kw_only=True)
class RegistryCacheArgs:
    """Arguments of `RegistryCache`."""

    mirror: Mirror
    """The account's registry and the environment's namespace (prefix of every rule). Required."""
    account_id: str
    """Account of the registry (repository ARNs). Required."""
    region: str
    """Region of the registry. Required."""
    credential_arns: dict[str, str]
    """Upstream host → Secrets Manager secret ARN, for every upstream that needs one. Required."""
    kms_key_arn: pulumi.Input[str]
    """The platform's ECR key: cached repositories are encrypted with it like the platform's own. Required."""
    node_role_names: list[pulumi.Input[str]]
    """Roles of the nodes (managed node groups, Karpenter) that pull through the cache. Required."""
    untagged_days: int
    """Lifecycle of cached repositories: untagged images expire after this many days. Required."""
    tags: dict[str, str]
    """Tags of every resource and of the repositories the cache creates. Required."""


def repository_arns(mirror: Mirror, account_id: str, region: str) -> list[str]:
    """ARNs of every repository the cache rules may create (the prefixes, and nothing else)."""
    arn = f"arn:aws:ecr:{region}:{account_id}:repository"
    return [f"{arn}/{mirror.prefix(u)}/*" for u in PULL_THROUGH_UPSTREAMS.values()]


class RegistryCache(pulumi.ComponentResource):
    """Pull-through cache rules + creation templates + the nodes' first-pull permission."""

    rules: dict[str, aws.ecr.PullThroughCacheRule]

    def __init__(self, name: str, args: RegistryCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:RegistryCache", name, None, opts)
        self._name, self._args = name, args
        role = self._template_role()
        self.rules = {u.prefix: self._rule(u, role) for u in PULL_THROUGH_UPSTREAMS.values()}
        pull = iam.document(iam.statement(list(FIRST_PULL_ACTIONS),
                                          repository_arns(args.mirror, args.account_id, args.region)))
        for i, node_role in enumerate(args.node_role_names):
            aws.iam.RolePolicy(f"{name}-first-pull-{i}", role=node_role, policy=iam.to_json(pull),
                               opts=child_opts(self))
        self.register_outputs({"rules": [r.ecr_repository_prefix for r in self.rules.values()]})

    def _template_role(self) -> aws.iam.Role:
        a = self._args
        trust = iam.document(iam.statement(["sts:AssumeRole"], None, principal={"Service": ["ecr.amazonaws.com"]},
                                           condition={"StringEquals": {"aws:SourceAccount": a.account_id}}))
        role = aws.iam.Role(f"{self._name}-template-role", assume_role_policy=iam.to_json(trust), tags=a.tags,
                            opts=child_opts(self))
        policy = iam.document(
            iam.statement(list(TEMPLATE_ROLE_ACTIONS), repository_arns(a.mirror, a.account_id, a.region)),
            iam.statement(list(TEMPLATE_KEY_ACTIONS), [a.kms_key_arn]))
        self._role_policy = aws.iam.RolePolicy(f"{self._name}-template-policy", role=role.id,
                                               policy=iam.to_json(policy), opts=child_opts(self))
        return role

    def _rule(self, upstream: Upstream, role: aws.iam.Role) -> aws.ecr.PullThroughCacheRule:
        a, prefix = self._args, self._args.mirror.prefix(upstream)
        template = aws.ecr.RepositoryCreationTemplate(
            f"{self._name}-{upstream.prefix}-template", prefix=prefix, applied_fors=["PULL_THROUGH_CACHE"],
            description=f"cache of {upstream.host} for {a.mirror.namespace}", image_tag_mutability="MUTABLE",
            encryption_configurations=[aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=a.kms_key_arn)],
            lifecycle_policy=lifecycle_policy(a.untagged_days), resource_tags=a.tags, custom_role_arn=role.arn,
            opts=child_opts(self, depends_on=[self._role_policy]))
        # The template exists first: ECR applies it only to repositories created after it.
        return aws.ecr.PullThroughCacheRule(
            f"{self._name}-{upstream.prefix}", ecr_repository_prefix=prefix, upstream_registry_url=upstream.url,
            credential_arn=a.credential_arns.get(upstream.host) if upstream.needs_credential else None,
            opts=child_opts(self, depends_on=[template]))
