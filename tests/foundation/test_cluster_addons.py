"""The add-ons that need nodes are their own component (`ClusterAddons`), created after the system pool.

They used to be children `Cluster` added after registering its outputs. A deployed stack holds them under
the old parent; without an alias `pulumi up` would delete and re-create CoreDNS, the EBS CSI driver and
its role. Pulumi resolves an alias spec with only `parent` to the URN the resource had under that parent,
keeping its name and type (https://www.pulumi.com/docs/iac/concepts/options/aliases/).
"""

from __future__ import annotations

from mlops_platform.aws.cluster_addons import POST_NODE_ADDONS
from mlops_platform.engine import Plan, Resource

CLUSTER = "mlops:aws:Cluster"
ADDONS = "mlops:aws:ClusterAddons"


def _moved(plan: Plan) -> list[Resource]:
    [component] = plan.of_type(ADDONS)
    return [r for r in plan.resources if r.parent == component.urn]


#: URNs these resources had in the dev plan before the move (commit 4e7c233, children of `Cluster`).
# Under the aws layer's project (issue #9 split the environment into per-layer stacks: mlops-platform-aws).
DEV_URNS_BEFORE = {
    "urn:pulumi:dev::mlops-platform-aws::mlops:aws:Cluster$aws:eks/addon:Addon::dev-cluster-addon-aws-ebs-csi-driver",
    "urn:pulumi:dev::mlops-platform-aws::mlops:aws:Cluster$aws:eks/addon:Addon::dev-cluster-addon-coredns",
    "urn:pulumi:dev::mlops-platform-aws::mlops:aws:Cluster$aws:iam/role:Role::dev-cluster-ebs-csi",
    "urn:pulumi:dev::mlops-platform-aws::mlops:aws:Cluster$aws:iam/rolePolicy:RolePolicy::dev-cluster-ebs-csi-kms",
    "urn:pulumi:dev::mlops-platform-aws::mlops:aws:Cluster$aws:iam/rolePolicyAttachment:RolePolicyAttachment::"
    "dev-cluster-ebs-csi",
}


def _old_urn(res: Resource) -> str:
    """The URN an alias spec resolves to: a child's URN names its parent's type, then its own type, then the
    name — here the alias's parent (the `Cluster`) and the alias's name."""
    [alias] = res.aliases
    head = res.urn.split("::")[:2]
    return "::".join([*head, f"{CLUSTER}${res.type}", alias["spec"]["name"]])


def test_post_node_addons_and_the_ebs_csi_role_belong_to_the_addons_component(plan: Plan) -> None:
    moved = _moved(plan)
    addons = sorted(r.get("addonName") for r in moved if r.type == "aws:eks/addon:Addon")
    assert addons == sorted(POST_NODE_ADDONS)
    prefix = f"{plan.stack}-cluster-addons"
    assert {r.name for r in moved} == {f"{prefix}-coredns", f"{prefix}-aws-ebs-csi-driver", f"{prefix}-ebs-csi",
                                       f"{prefix}-ebs-csi-kms"}
    [cluster] = plan.of_type(CLUSTER)
    assert not [r for r in plan.resources if r.parent == cluster.urn and r.type == "aws:eks/addon:Addon"
                and r.get("addonName") in POST_NODE_ADDONS]


def test_every_moved_resource_is_aliased_to_its_urn_under_the_cluster(plan: Plan) -> None:
    [cluster] = plan.of_type(CLUSTER)
    moved = _moved(plan)
    assert len(moved) == 5
    for res in moved:
        # the old parent and the old name: the type never changed
        [alias] = res.aliases
        assert alias["spec"]["parentUrn"] == cluster.urn, res.name
        assert alias["spec"]["name"] == res.name.replace("-cluster-addons-", "-cluster-addon-", 1) \
            if res.type == "aws:eks/addon:Addon" else res.name.replace("-cluster-addons-", "-cluster-", 1)


def test_the_aliases_resolve_to_the_urns_before_the_move(plans: dict[str, Plan]) -> None:
    moved = _moved(plans["dev"])
    assert {_old_urn(r) for r in moved} == DEV_URNS_BEFORE


def test_only_moved_resources_carry_aliases(plan: Plan) -> None:
    # provider type aliases (bucketV2 ...) are the SDK's bookkeeping and stay out of the plan
    assert {r.urn for r in plan.resources if r.aliases} == {r.urn for r in _moved(plan)}


def test_addons_wait_for_the_system_pool(plan: Plan) -> None:
    [system] = [r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup") if r.get("nodeGroupNamePrefix") == "system-"]
    for res in _moved(plan):
        if res.type == "aws:eks/addon:Addon":
            assert system.urn in res.dependencies, res.name
