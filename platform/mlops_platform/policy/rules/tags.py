"""Tags: every taggable AWS resource carries the cost and ownership tags (provider default tags count)."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, dig, fmt, is_unknown


@resource_policy(
    name="required-tags", area=Area.TAGS, resource_types=tuple(sorted(t.TAGGABLE)), severity=Severity.LOW,
    description="Taggable AWS resources carry the required tags (default: environment, owner, cost-center, "
                "managed-by), directly or through the provider's defaultTags.",
    remediation="Pass the environment's base tags (PlatformConfig.base_tags) to every resource, or set them as "
                "defaultTags on the AWS provider; activate them as cost-allocation tags in Billing.",
    url="https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html", settings=("required_tags",),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the tags map is unknown; unknown tag values count.",
)
def required_tags(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    tags = res.get("tags")
    if is_unknown(tags):
        yield Defer("tags")
        return
    defaults = dig(res.provider, "defaultTags.tags")
    merged = {**(defaults if isinstance(defaults, dict) else {}), **(tags if isinstance(tags, dict) else {})}
    missing = [k for k in settings.required_tags if k not in merged or merged[k] in ("", None)]
    if missing:
        yield f"tags lack {fmt(missing)}"
