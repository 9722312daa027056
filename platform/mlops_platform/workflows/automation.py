"""`mlplat preview | up | destroy ENV` through the Pulumi Automation API and the local Pulumi CLI.

Order, each step stopping with one clear reason before anything is touched:
1. validate the stack file (ConfigError);
2. destroy only: refuse a prod / deletion-protected environment unless forced (UsageError);
3. tools: the `pulumi` CLI on PATH and AWS credentials, both reported at once (ToolMissingError) —
   checked before the Automation API is imported, which would otherwise fail with a raw OSError;
4. preview/up: preflight (PreflightError) and the offline policy review, waivers applied
   (PolicyViolationError) — of the whole environment, or with `--shard K` of that shard's stack only;
   destroy: the account guard only;
5. the real operation on the self-managed backend bootstrap created, with the policy pack attached (configured as
   `mlplat policy config ENV`: the tier's levels, the budget, GPU cap and estimate) and
   the engine's output streamed, once per layer stack (aws → cluster → tenants; destroy in reverse). A
   sharded environment's tenants layer is one stack per shard (`<env>-tenants-<k>`, docs/scale-out.md), run
   one after the other, or only `--shard K`'s; they read the environment's stack file (`--config-file`);
   destroy also refuses protected resources in the state unless forced.
   Before the aws layer of an `up`, a node group whose pool's new min_size exceeds its live desired size
   gets its desired size raised first (ops/desired_sizes.py: EKS needs desired ≥ min, and the stack
   ignores desired-size drift), each raise streamed and listed in the result.
   Before a `cluster` or `tenants` layer, TCP 443 to the cluster endpoint (read from the aws layer's
   stack) is probed: from a machine that cannot reach it the run stops there, after the aws layer, with
   the exact next step — it never half-applies an in-cluster layer.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlops_platform.config import env_stack_file, load_env, repo_root
from mlops_platform.core.errors import EngineError, PolicyViolationError, PreflightError, ToolMissingError, UsageError
from mlops_platform.core.layers import LAYER_DIRS, Layer, layers_for
from mlops_platform.core.shards import shard_stack, split_stack
from mlops_platform.ops._aws import CREDENTIALS_FIX, Aws
from mlops_platform.ops.account_checks import PROBE_TIMEOUT_S, Probe, tcp_probe, unreachable_fix
from mlops_platform.ops.backend import state_backend
from mlops_platform.ops.desired_sizes import DesiredRaise, raise_desired_sizes
from mlops_platform.ops.preflight import PreflightReport, check_account, run_preflight
from mlops_platform.policy.config_files import to_pulumi_config
from mlops_platform.workflows import review
from mlops_platform.workflows.teardown import (
    await_controller_load_balancers,
    lift_cluster_deletion_protection,
    live_resources,
    refuse_aws_under_upper_layers,
)

if TYPE_CHECKING:
    from pulumi.automation import Stack

    from mlops_platform.config import PlatformConfig

PULUMI_INSTALL_HINT = ("install the Pulumi CLI: `curl -fsSL https://get.pulumi.com | sh` (or `brew install "
                       "pulumi/tap/pulumi`), open a new shell and check `pulumi version`; "
                       "see https://www.pulumi.com/docs/iac/download-install/")
FORCE_FLAG = "--force-destroy-protected-data"
Output = Callable[[str], Any]


class Operation(StrEnum):
    PREVIEW = "preview"
    UP = "up"
    DESTROY = "destroy"


@dataclass(frozen=True)
class OperationResult:
    env: str
    operation: Operation
    summary: str  # per layer: `aws: {...}; cluster: {...}`
    review: str
    desired_size_raises: tuple[DesiredRaise, ...] = ()
    """Node groups whose desired size `up` raised to a new min_size before the aws layer."""

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "operation": self.operation.value, "summary": self.summary, "review": self.review,
                "desired_size_raises": [r.to_json() for r in self.desired_size_raises]}


def policy_pack_dir() -> Path:
    return repo_root() / "platform" / "policypack"


def require_tools(aws: Aws, operation: Operation) -> str:
    """Path of the `pulumi` CLI; ToolMissingError naming every missing tool and its fix otherwise."""
    cli = shutil.which("pulumi")
    missing = []
    if cli is None:
        missing.append(f"the Pulumi CLI is not on PATH — fix: {PULUMI_INSTALL_HINT}")
    if not aws.has_credentials():
        missing.append(f"AWS credentials not found — fix: {CREDENTIALS_FIX}")
    if missing:
        raise ToolMissingError(f"mlplat {operation.value} needs:\n" + "\n".join(f"  - {m}" for m in missing))
    return str(cli)


def guard_destroy(cfg: PlatformConfig, force: bool) -> None:
    """Prod and deletion-protected environments hold data nobody can recreate: refuse unless forced."""
    if force or not (cfg.is_prod or cfg.deletion_protection):
        return
    why = "is prod" if cfg.is_prod else "has cluster.deletion_protection on"
    raise UsageError(f"refusing to destroy {cfg.environment.name}: it {why} and its buckets, database and "
                     f"cluster hold data that cannot be recreated — fix: if you really mean it, back up the "
                     f"data and re-run with {FORCE_FLAG}")


def offline_review(env: str, shard: int | None = None) -> str:
    """The policy team's offline review (`mlplat review ENV`, with stacks/waivers.yaml when present).

    The same pack runs again inside the engine; reviewing first stops before any cloud call, and the
    offline plan sees values a preview would still report as unknown. With `shard`, only what that run
    changes is reviewed: the shard's tenants stack (`mlplat review ENV --shard K`), the layers below planned
    as its StackReference inputs only — a CI matrix of shard jobs then plans each tenant once, not once per job.
    """
    subject = review.environment(env, shard=shard)
    report = review.review(subject, review.resolve_waivers(None, repo_root()))
    what, again = (env, env) if shard is None else (f"{env} tenant shard {shard}", f"{env} --shard {shard}")
    if not report.passed:
        listed = "\n".join(f"  - {f.policy}: {f.resource}: {f.message}" for f in report.blocking[:10])
        raise PolicyViolationError(f"offline review of {what}: {len(report.blocking)} unwaived mandatory "
                                   f"violation(s):\n{listed}\nfix: `mlplat review {again}` shows them all; fix "
                                   "them or add reviewed waivers to stacks/waivers.yaml")
    summary = report.summary()
    scope = "" if shard is None else f" of tenant shard {shard} only"
    return f"offline review passed ({summary['violations']} finding(s), {summary['waived']} waived){scope}"


def _gate(cfg: PlatformConfig, aws: Aws, operation: Operation, shard: int | None = None) -> str:
    """Preflight and review before preview/up (of `shard`'s stack only, when given); only the account guard
    before destroy."""
    if operation is Operation.DESTROY:
        report = PreflightReport(cfg.environment.name, cfg.environment.account_id, cfg.environment.region,
                                 tuple(check_account(cfg, aws)))
        report.raise_for_failures()
        return "skipped for destroy"
    run_preflight(cfg, aws).raise_for_failures()
    return offline_review(cfg.environment.name, shard)


def _workspace_env(cfg: PlatformConfig) -> dict[str, str]:
    # An explicit `pulumi login` / PULUMI_BACKEND_URL wins; otherwise the backend bootstrap created.
    if os.environ.get("PULUMI_BACKEND_URL"):
        return {}
    return {"PULUMI_BACKEND_URL": state_backend(cfg).login_url, "PULUMI_SKIP_UPDATE_CHECK": "true"}


def _stack(cfg: PlatformConfig, layer: Layer, create: bool) -> Stack:
    """The layer's stack: its Pulumi project directory, stack named after the environment."""
    return _select(cfg, layer, cfg.environment.name, create)


def _select(cfg: PlatformConfig, layer: Layer, name: str, create: bool) -> Stack:
    """Stack `name` of the layer's Pulumi project (a tenant shard's stack is created with the environment's
    secrets provider like the others, so the shared stack file's `secure:` values decrypt in it)."""
    # Deliberately lazy: the Automation API loads only once the pulumi CLI is known to exist (and not at CLI start).
    from pulumi import automation as auto

    work_dir = str((repo_root() / LAYER_DIRS[layer]).resolve())
    opts = auto.LocalWorkspaceOptions(work_dir=work_dir, env_vars=_workspace_env(cfg),
                                      secrets_provider=state_backend(cfg).secrets_provider)
    select = auto.create_or_select_stack if create else auto.select_stack
    return select(stack_name=name, work_dir=work_dir, opts=opts)


def targets(cfg: PlatformConfig, layer: Layer | None, shard: int | None, *,
            reverse: bool = False) -> list[tuple[Layer, str]]:
    """(layer, stack) of each stack one command runs, in order: every layer's stack is named after the environment,
    except a sharded environment's tenants layer, which is every shard's stack (`tenants.shards`) or `shard`'s.
    `shard` selects the tenants layer only; UsageError for a shard the count does not have."""
    env, count = cfg.environment.name, cfg.tenants.shards
    if shard is not None:
        if layer not in (None, Layer.TENANTS):
            raise UsageError(f"--shard {shard} is a stack of the tenants layer — fix: drop --layer {layer.value} "
                             "or use --layer tenants")
        if not 0 <= shard < count:
            raise UsageError(f"{env_stack_file(env)}: --shard {shard}: tenants.shards is {count}, so shards are "
                             f"0..{count - 1} — fix: pass one of them (`mlplat shards {env}` lists them)")
        layer = Layer.TENANTS
    shards = [shard_stack(env, k, count) for k in (range(count) if shard is None else (shard,))]
    return [(each, name) for each in layers_for(layer, reverse=reverse)
            for name in (shards if each is Layer.TENANTS else [env])]


def _open(cfg: PlatformConfig, layer: Layer, name: str, create: bool) -> Stack:
    return _stack(cfg, layer, create) if name == cfg.environment.name else _select(cfg, layer, name, create)


def require_api(cfg: PlatformConfig, endpoint: str, layer: Layer, done: list[Layer],
                probe: Probe = tcp_probe) -> None:
    """Stop before an in-cluster layer this machine cannot apply (PreflightError with the next step)."""
    env = cfg.environment.name
    applied = f"the {', '.join(d.value for d in done)} layer(s) of {env} are done; " if done else ""
    host = urlparse(endpoint).hostname
    if not host:
        raise PreflightError(f"{applied}stopping before the {layer.value} layer: the aws layer of {env} is not "
                             f"applied yet (its stack has no cluster_endpoint output)\n"
                             f"next step: `mlplat up {env} --layer aws`, then rerun this command")
    why = probe(host, 443, PROBE_TIMEOUT_S)
    if why is not None:
        raise PreflightError(f"{applied}stopping before the {layer.value} layer: the cluster API {endpoint} is not "
                             f"reachable on TCP 443 from this machine ({why})\nnext step: {unreachable_fix(cfg)}")


def _endpoint(cfg: PlatformConfig) -> str:
    """The aws layer's published endpoint ('' when its stack does not exist or has no outputs yet)."""
    # Deliberately lazy, like `_stack`: the Automation API loads only when an operation runs, not at CLI start.
    from pulumi.automation import CommandError

    try:
        value = _stack(cfg, Layer.AWS, create=False).outputs().get("cluster_endpoint")
    except CommandError:
        return ""
    return str(value.value) if value is not None else ""


def protected_resources(deployment: Mapping[str, Any] | None) -> list[str]:
    """URNs marked `protect` in an exported stack state."""
    return [r["urn"] for r in (deployment or {}).get("resources") or [] if r.get("protect")]


def _held(cfg: PlatformConfig, layer: Layer) -> int:
    """Resources a layer's stacks still hold (a stack that does not exist holds none)."""
    from pulumi.automation import CommandError

    held = 0
    for _, name in targets(cfg, layer, None):
        try:
            held += live_resources(_open(cfg, layer, name, create=False).export_stack().deployment)
        except CommandError:
            continue
    return held


def _unprotect_or_refuse(stack: Stack, env: str, force: bool) -> None:
    protected = protected_resources(stack.export_stack().deployment)
    if not protected:
        return
    if not force:
        listed = "\n".join(f"  - {u}" for u in protected[:20])
        raise UsageError(f"refusing to destroy {env}: {len(protected)} protected resource(s) in its state:\n"
                         f"{listed}\nfix: back up their data and re-run with {FORCE_FLAG}")
    workspace: Any = stack.workspace
    # Retained resources (prod buckets, the keys and database protecting them) are only removed from the
    # state by destroy, never deleted: unprotecting them schedules no deletion.
    workspace.pulumi_command.run(["state", "unprotect", "--all", "--yes", "--stack", env],
                                 workspace.work_dir, workspace.env_vars)


def refreshes_first(layer: Layer, operation: Operation) -> bool:
    """Whether the layer's preview/up refreshes its state from AWS first: the aws layer's does.

    Its node groups ignore changes to `desired_size` (the autoscaler owns it), and for an ignored property
    Pulumi sends the input recorded in state at the last apply, not the live value (Pulumi docs, resource
    option `ignoreChanges`). Without a refresh, changing a pool's min or max sends that stale desired size
    to UpdateNodegroupConfig: EKS refuses it below the new minimum, or scales a group the autoscaler grew
    back down, draining GPU nodes mid-job. A refresh records the live size (and `raise_desired_sizes`'
    raise) as the input first."""
    return layer is Layer.AWS and operation in (Operation.PREVIEW, Operation.UP)


def shared_config_file(stack: str) -> str | None:
    """The stack file a tenant shard's stack runs with (`pulumi ... --config-file`): its environment's. None for
    any other stack, which Pulumi finds under `stackConfigDir` by its own name."""
    env, shard = split_stack(stack)
    return None if shard is None else str(env_stack_file(env))


def pack_config(stack: str) -> dict[str, dict[str, Any]]:
    """The `--policy-pack-config` a layer stack's preview/up runs the pack with: its environment's
    (`mlplat policy config ENV`). Without one the pack judged every layer stack with every policy mandatory and
    no budget, GPU cap or cost estimate, so the checks on those passed unseen in every layer. It carries the live
    waivers too: without them the pack refused what the offline review waives."""
    return to_pulumi_config(review.deploy_config(split_stack(stack)[0]))


def _execute(stack: Stack, operation: Operation, on_output: Output, force: bool, *, refresh: bool = False) -> str:
    packs, config = [str(policy_pack_dir())], shared_config_file(stack.name)
    if operation is Operation.DESTROY:
        _unprotect_or_refuse(stack, stack.name, force)
        return str(stack.destroy(on_output=on_output, config_file=config).summary.resource_changes)
    with tempfile.TemporaryDirectory(prefix="mlplat-policy-") as tmp:
        settings = Path(tmp) / "policy-config.json"
        settings.write_text(json.dumps(pack_config(stack.name)), encoding="utf-8")
        if operation is Operation.PREVIEW:
            return str(stack.preview(policy_packs=packs, policy_pack_configs=[str(settings)], on_output=on_output,
                                     diff=True, refresh=refresh, config_file=config).change_summary)
        return str(stack.up(policy_packs=packs, policy_pack_configs=[str(settings)], on_output=on_output,
                            refresh=refresh, config_file=config).summary.resource_changes)


def run_operation(env: str, operation: Operation, *, layer: Layer | None = None, shard: int | None = None,
                  force_destroy_protected_data: bool = False, on_output: Output = sys.stdout.write,
                  aws: Aws | None = None, probe: Probe = tcp_probe) -> OperationResult:
    """Run `operation` on the selected layer stacks of `env` (all, in order; `shard`: one tenant shard's stack)."""
    cfg = load_env(env)
    stacks = targets(cfg, layer, shard, reverse=operation is Operation.DESTROY)  # a bad --shard fails first
    if operation is Operation.DESTROY:
        guard_destroy(cfg, force_destroy_protected_data)
    aws = aws or Aws(cfg.environment.region)
    require_tools(aws, operation)
    if operation is Operation.DESTROY and layer is Layer.AWS:
        refuse_aws_under_upper_layers(cfg, lambda upper: _held(cfg, upper))
    review = _gate(cfg, aws, operation, shard)
    on_output(f"preflight passed; {review}\n")
    # Deliberately lazy, like `_stack`: the Automation API loads only when an operation runs, not at CLI start.
    from pulumi.automation import CommandError

    done: list[Layer] = []
    summaries, raised = [], []
    for each, name in stacks:
        if each not in done:  # once per layer, before its first stack
            raised += _before_layer(cfg, aws, operation, each, done, probe, on_output)
        where = f"{each.value} layer" + ("" if name == env else f", stack {name}")
        on_output(f"--- {operation.value} {env}: {where} ---\n")
        try:
            stack = _open(cfg, each, name, create=operation is not Operation.DESTROY)
            summary = _execute(stack, operation, on_output, force_destroy_protected_data,
                               refresh=refreshes_first(each, operation))
            summaries.append(f"{each.value if name == env else name}: {summary}")
        except CommandError as exc:
            raise EngineError(f"pulumi {operation.value} {env} ({where}) failed:\n{_tail(str(exc))}") from None
        if each not in done:
            done.append(each)
    return OperationResult(env, operation, "; ".join(summaries), review, tuple(raised))


def _before_layer(cfg: PlatformConfig, aws: Aws, operation: Operation, layer: Layer, done: list[Layer],
                  probe: Probe, on_output: Output) -> list[DesiredRaise]:
    """What must hold, or be done, before a layer runs: the API reachable for an in-cluster layer; EKS deletion
    protection lifted before a forced aws destroy; desired sizes raised to new minimums before an aws up."""
    if layer is not Layer.AWS:
        require_api(cfg, _endpoint(cfg), layer, done, probe)
    elif operation is Operation.DESTROY:
        await_controller_load_balancers(cfg, aws, on_output)  # the NLB must go before the subnets
        if cfg.deletion_protection:  # guard_destroy demanded the force
            lift_cluster_deletion_protection(cfg, aws, on_output)
    elif operation is Operation.UP:
        return raise_desired_sizes(cfg, aws, on_output)
    return []


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


__all__ = ["FORCE_FLAG", "PULUMI_INSTALL_HINT", "Operation", "OperationResult", "guard_destroy", "offline_review",
           "protected_resources", "require_api", "require_tools", "run_operation", "shared_config_file", "targets"]
