"""`mlplat upgrade`: the pure planner (no engine, no AWS) and the command through the real CLI entry point."""

from __future__ import annotations

import json
from datetime import date

import pytest
from mlops_platform.core.errors import UpgradeRefusedError, UsageError
from mlops_platform.core.versions import VERSION_MATRIX, bottlerocket_release, minor_pins
from mlops_platform.ops.upgrade import ADDON_ORDER, Stage, check_target, plan_upgrade
from rich.console import Console

TODAY = date(2026, 11, 29)


def test_plan_orders_control_plane_addons_node_groups_then_charts(make_cfg) -> None:
    plan = plan_upgrade(make_cfg(), "1.35", today=TODAY)
    stages = [s.stage for s in plan.steps]
    assert stages == sorted(stages, key=list(Stage).index)  # never a node before the control plane
    assert plan.steps[0] == plan.steps[0].__class__(Stage.CONTROL_PLANE, "mlops-dev", "1.34", "1.35")
    nodes = {s.name: (s.from_version, s.to_version) for s in plan.steps if s.stage is Stage.NODE_GROUP}
    assert nodes == dict.fromkeys(("system", "l4"), (minor_pins("1.34").node_release, minor_pins("1.35").node_release))
    (chart,) = [s for s in plan.steps if s.stage is Stage.CHART]
    assert chart.to_version == f"{minor_pins('1.35').autoscaler_chart} (image {minor_pins('1.35').autoscaler_image})"


def test_only_addons_whose_version_moves_are_steps_in_dependency_order(make_cfg) -> None:
    plan = plan_upgrade(make_cfg(), "1.35", today=TODAY)
    addons = [s.name for s in plan.steps if s.stage is Stage.ADDON]
    old, new = minor_pins("1.34").addons, minor_pins("1.35").addons
    assert addons == [a for a in ADDON_ORDER if old[a] != new[a]]
    assert "kube-proxy" in addons  # kube-proxy follows the minor (version-skew policy)


def test_addon_order_covers_every_addon_of_the_matrix() -> None:
    assert all(set(ADDON_ORDER) == set(pins.addons) for pins in VERSION_MATRIX.values())


def test_skew_is_checked_and_reported(make_cfg) -> None:
    checks = plan_upgrade(make_cfg(), "1.35", today=TODAY).checks
    assert any("skew 1 <= 3" in c for c in checks)
    late = plan_upgrade(make_cfg({"cluster": {"version": "1.31"}}), "1.32", today=TODAY).checks
    assert any(c.startswith("warning: 1.32 left EKS standard support on 2026-03-23") for c in late)


def test_a_cluster_past_its_support_window_is_flagged(make_cfg) -> None:
    """EKS User Guide, view-upgrade-policy: STANDARD clusters are upgraded at the end of standard support,
    EXTENDED ones at the end of extended support."""
    standard = plan_upgrade(make_cfg({"cluster": {"version": "1.32"}}), "1.33", today=TODAY).checks
    assert any("EKS may already have upgraded the control plane" in c for c in standard)
    extended = plan_upgrade(make_cfg({"cluster": {"version": "1.32", "upgrade_policy": "EXTENDED"}}), "1.33",
                            today=TODAY).checks
    assert not any("may already have upgraded" in c or "left extended support" in c for c in extended)
    gone = plan_upgrade(make_cfg({"cluster": {"version": "1.31", "upgrade_policy": "EXTENDED"}}), "1.32",
                        today=TODAY).checks
    assert any(c.startswith("warning: 1.31 left extended support on 2026-11-26") for c in gone)


def test_same_version_is_an_empty_plan(make_cfg) -> None:
    plan = plan_upgrade(make_cfg(), "1.34", today=TODAY)
    assert plan.steps == [] and plan.to_json()["steps"] == []


def test_the_chart_step_exists_only_with_gpu_pools(make_cfg) -> None:
    plan = plan_upgrade(make_cfg({"node_pools": {"gpu": []}, "gpu": {"max_total_gpus": 0}}), "1.35", today=TODAY)
    assert Stage.CHART not in {s.stage for s in plan.steps}


@pytest.mark.parametrize(("current", "target", "message"), [
    ("1.34", "1.33", r"older than the cluster's 1\.34: EKS cannot downgrade .* fix: stay on 1\.34"),
    ("1.32", "1.34", r"skips 1 minor\(s\): EKS upgrades the control plane one minor at a time .* upgrade to 1\.33"),
    ("1.35", "1.36", r"not supported by this platform release .* fix: upgrade mlops-platform first"),
])
def test_refusals_say_why_and_how_to_fix(current: str, target: str, message: str) -> None:
    with pytest.raises(UpgradeRefusedError, match=message):
        check_target(current, target)
    assert UpgradeRefusedError.exit_code == 1


def test_a_malformed_target_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"--to '1\.3x' is not a Kubernetes minor — fix: give it as 1\.NN"):
        check_target("1.34", "1.3x")


# ---------------------------------------------------------------- through the CLI
@pytest.fixture
def upgrade_cli(monkeypatch, capsys):
    """Run `mlplat ARGS...` in-process; (exit code, stdout, stderr) — stdout alone must parse as JSON."""
    from mlops_platform.cli import mlplat as cli
    from mlops_platform.cli.commands import upgrade

    monkeypatch.setattr(upgrade, "out", Console(width=200, no_color=True, highlight=False))
    monkeypatch.setattr(cli, "err", Console(width=200, no_color=True, stderr=True))

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_cli_prints_the_ordered_plan_and_the_next_step(upgrade_cli, make_cfg, tmp_root) -> None:
    make_cfg()
    code, out, _ = upgrade_cli("upgrade", "dev", "--to", "1.35")
    assert code == 0, out
    assert out.index("control-plane") < out.index("add-on") < out.index("node-group") < out.index("chart")
    assert 'set cluster.version: "1.35"' in out and "mlplat up dev" in out


def test_cli_json_plan(upgrade_cli, make_cfg, tmp_root) -> None:
    make_cfg()
    code, out, _ = upgrade_cli("upgrade", "dev", "--to", "1.35", "--json")
    data = json.loads(out)
    assert code == 0 and (data["from"], data["to"]) == ("1.34", "1.35")
    assert [s["order"] for s in data["steps"]] == list(range(1, len(data["steps"]) + 1))
    assert data["steps"][0]["stage"] == "control-plane" and data["upgrade_policy"] == "STANDARD"


def test_cli_same_version_says_so(upgrade_cli, make_cfg, tmp_root) -> None:
    make_cfg()
    code, out, _ = upgrade_cli("upgrade", "dev", "--to", "1.34")
    assert code == 0 and "already runs Kubernetes 1.34: nothing to upgrade" in out


@pytest.mark.parametrize(("current", "target", "reason"), [
    ("1.34", "1.33", "cannot downgrade"), ("1.35", "1.36", "not supported"),
    ("1.34", "1.3x", "not a Kubernetes minor")])
def test_cli_refusals_exit_nonzero_with_the_reason(upgrade_cli, make_cfg, tmp_root, current, target, reason) -> None:
    make_cfg({"cluster": {"version": current}})
    code, out, err = upgrade_cli("upgrade", "dev", "--to", target)
    assert code == (2 if target == "1.3x" else 1) and reason in err and "Traceback" not in out + err


def test_cli_refusal_stays_json(upgrade_cli, make_cfg, tmp_root) -> None:
    make_cfg({"cluster": {"version": "1.32"}})
    code, out, _ = upgrade_cli("upgrade", "dev", "--to", "1.34", "--json")
    error = json.loads(out)["error"]
    assert code == 1 and error["exit_code"] == 1 and error["code"] == "upgrade_refused"
    assert "one minor at a time" in error["message"] and "fix: upgrade to 1.33" in error["message"]


def test_cli_unknown_environment_stays_json(upgrade_cli, tmp_root) -> None:
    code, out, _ = upgrade_cli("upgrade", "nope", "--to", "1.35", "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["code"] == "usage" and "nope" in error["message"]


def test_karpenter_pools_roll_by_their_nodeclass_alias_after_the_node_groups_and_charts(make_cfg) -> None:
    """With gpu.provisioner: karpenter the GPU pools are no node groups: the cluster layer moves each
    EC2NodeClass's `al2023@v<release>` alias and Karpenter replaces the drifted nodes within their budget."""
    cfg = make_cfg({"gpu": {"max_total_gpus": 64, "provisioner": "karpenter"}})
    plan = plan_upgrade(cfg, "1.35", today=TODAY)
    stages = [s.stage for s in plan.steps]
    assert stages == sorted(stages, key=list(Stage).index)
    assert [s.name for s in plan.steps if s.stage is Stage.NODE_GROUP] == ["system"]
    (pool,) = [s for s in plan.steps if s.stage is Stage.NODE_POOL]
    release = {v: minor_pins(v).node_release.rsplit("-", 1)[1] for v in ("1.34", "1.35")}
    assert (pool.name, pool.from_version, pool.to_version) == ("l4", f"al2023@v{release['1.34']}",
                                                               f"al2023@v{release['1.35']}")


def test_bottlerocket_karpenter_pools_drift_to_the_target_minors_variant(make_cfg) -> None:
    """One pinned Bottlerocket release serves every minor; its alias resolves the cluster minor's
    aws-k8s-<minor>-nvidia variant, so the step names the variant that changes."""
    cfg = make_cfg({"gpu": {"max_total_gpus": 64, "provisioner": "karpenter"}})
    pools = [p.model_copy(update={"ami_type": "BOTTLEROCKET_x86_64_NVIDIA"}) for p in cfg.node_pools.gpu]
    cfg = cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={"gpu": pools})})
    (pool,) = [s for s in plan_upgrade(cfg, "1.35", today=TODAY).steps if s.stage is Stage.NODE_POOL]
    assert (pool.from_version, pool.to_version) == (
        f"bottlerocket@v{bottlerocket_release('1.34')} (aws-k8s-1.34-nvidia)",
        f"bottlerocket@v{bottlerocket_release('1.35')} (aws-k8s-1.35-nvidia)")


def _bottlerocket_groups(cfg):
    pools = [p.model_copy(update={"ami_type": "BOTTLEROCKET_x86_64_NVIDIA"}) for p in cfg.node_pools.gpu]
    return cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={"gpu": pools})})


def test_bottlerocket_node_groups_move_minor_and_pinned_release_in_one_command_before_up(make_cfg) -> None:
    """hashicorp/terraform-provider-aws#40902: on a minor bump with an unchanged release_version the provider sends
    only `version`, and EKS picks the newest release. So the control plane and each Bottlerocket group are moved by
    the named commands before `up` (which refreshes the aws layer and then finds both at the target)."""
    cfg = _bottlerocket_groups(make_cfg())
    plan = plan_upgrade(cfg, "1.35", today=TODAY)
    region, cluster, gpu = cfg.environment.region, cfg.cluster_name, cfg.node_pools.gpu[0].name
    assert [s.stage for s in plan.manual] == [Stage.CONTROL_PLANE] + [Stage.NODE_GROUP] * len(cfg.node_pools.gpu)
    assert plan.steps[:len(plan.manual)] == plan.manual  # first in the order, before any `up` step
    assert plan.manual[0].command == (f"aws eks update-cluster-version --region {region} --name {cluster} "
                                      f"--kubernetes-version 1.35 && aws eks wait cluster-active --region {region} "
                                      f"--name {cluster}")
    parameter = f"/aws/service/bottlerocket/aws-k8s-1.35-nvidia/x86_64/{bottlerocket_release('1.35')}/image_version"
    assert plan.manual[1].name == gpu and plan.manual[1].command == (
        f"aws eks update-nodegroup-version --region {region} --cluster-name {cluster} --nodegroup-name "
        f"\"$(aws eks list-nodegroups --region {region} --cluster-name {cluster} --query "
        f"\"nodegroups[?starts_with(@, '{gpu}-20')] | [0]\" --output text)\" --kubernetes-version 1.35 "
        f"--release-version \"$(aws ssm get-parameter --region {region} --name {parameter} --query Parameter.Value "
        "--output text)\"")
    system = next(s for s in plan.steps if s.name == cfg.node_pools.system.name)
    assert system.command == "" and plan.steps.index(system) > plan.steps.index(plan.manual[-1])
    assert any("kube-proxy 1.34 beside the Bottlerocket groups' 1.35 kubelet" in c for c in plan.checks)
    assert "command" in plan.to_json()["steps"][0]


def test_al2023_only_plans_have_no_commands(make_cfg) -> None:
    plan = plan_upgrade(make_cfg(), "1.35", today=TODAY)
    assert plan.manual == [] and all(s["command"] == "" for s in plan.to_json()["steps"])


def test_cli_prints_the_commands_to_run_before_up(upgrade_cli, make_cfg, tmp_root) -> None:
    make_cfg({"node_pools": {"gpu": [{"name": "l4", "instance_types": ["g6.xlarge"], "capacity": "spot",
                                      "min_size": 0, "desired_size": 0, "max_size": 4,
                                      "ami_type": "BOTTLEROCKET_x86_64_NVIDIA"}]}})
    code, out, _ = upgrade_cli("upgrade", "dev", "--to", "1.35")
    assert code == 0, out
    assert "first run the commands below" in out
    assert "1. aws eks update-cluster-version" in out and "2. aws eks update-nodegroup-version" in out
