"""Fixtures of the policies in `mlops_platform.policy.rules.tags`."""

from __future__ import annotations

from policy_plans import DROP, Patch, U

from policy_cases._base import DEFERRED, KEY, Case, fail, ok, u

CASES: dict[str, Case] = {
    "required-tags": Case(
        passing=(ok(), ok(Patch("key", "tags.owner", U))),
        failing=(fail(KEY, Patch("key", "tags.owner", DROP)),
                 fail(KEY, Patch("key", "tags", DROP))),
        unknown=u(DEFERRED, Patch("key", "tags", U))),
}
