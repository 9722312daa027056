"""What a project's own stack (the template's `infra/`) reads of its platform environment.

A project's stack config names the environment (`platformStack: ORG/mlops-platform/ENV`). Unsharded, that
tenants stack holds the project; with `tenants.shards` > 1 the environment has no stack of that name and the
project lives in its shard's `ORG/mlops-platform/ENV-tenants-K` (docs/scale-out.md). The shard count is read
from the environment's aws-layer stack (its `tenant_shards` output), which exists whatever the count, and the
shard is `core.shards.shard_of` — the function the platform places the project with — so a project follows
its environment's count without a config change of its own.
"""

from __future__ import annotations

import pulumi

from mlops_platform.core.errors import UsageError
from mlops_platform.core.shards import aws_layer_stack, project_platform_stack, shard_count


def platform_reference(environment_stack: str, project: str) -> pulumi.StackReference:
    """The StackReference to the tenants stack holding `project` in the environment `environment_stack` names
    (named after `environment_stack`, as a project's only platform reference always was)."""
    try:
        aws_stack = aws_layer_stack(environment_stack)
    except UsageError as exc:
        raise pulumi.RunError(exc.render()) from None
    layer = pulumi.StackReference(aws_stack)
    stack = layer.get_output("tenant_shards").apply(lambda count: _shard_stack(environment_stack, project,
                                                                               count, aws_stack))
    # The SDK annotates `stack_name` as str, yet sends it as the read's id and `name` input, both serialized as
    # inputs (awaited like any Output); Node's StackReferenceArgs.name is an Input<string>.
    return pulumi.StackReference(environment_stack, stack_name=stack)  # type: ignore[arg-type]


def _shard_stack(environment_stack: str, project: str, exported: object, aws_stack: str) -> str:
    # RunError: `pulumi preview` prints the message alone, not a traceback of the program
    try:
        return project_platform_stack(environment_stack, project, shard_count(exported, aws_stack))
    except UsageError as exc:
        raise pulumi.RunError(exc.render()) from None
