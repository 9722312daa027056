"""Small shared pieces of the AWS components."""

from __future__ import annotations

import pulumi


def child_opts(parent: pulumi.Resource, *, protect: bool = False, retain: bool = False,
               depends_on: list[pulumi.Resource] | None = None,
               ignore_changes: list[str] | None = None,
               aliases: list[pulumi.Alias] | None = None) -> pulumi.ResourceOptions:
    """Options every child gets: parent=self (so providers flow down) plus data protection when asked, and
    the aliases of a resource that moved here from another parent (so a real stack does not replace it)."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=retain,
                                  depends_on=depends_on or [], ignore_changes=ignore_changes, aliases=aliases)


def with_name(tags: dict[str, str], name: str) -> dict[str, str]:
    return {**tags, "Name": name}
