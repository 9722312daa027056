"""Fixtures of the policies in `mlops_platform.policy.rules.kms`."""

from __future__ import annotations

from policy_plans import DROP, Patch, U, doc

from policy_cases._base import DEFERRED, KEY, Case, allow, fail, ok, u

CASES: dict[str, Case] = {
    "kms-rotation": Case(
        passing=(ok(), ok(Patch("key", "customerMasterKeySpec", "RSA_2048"), Patch("key", "enableKeyRotation", False))),
        failing=(fail(KEY, Patch("key", "enableKeyRotation", False)),
                 fail(KEY, Patch("key", "enableKeyRotation", DROP))),
        unknown=u(DEFERRED, Patch("key", "enableKeyRotation", U))),
    "kms-safe-key-policy": Case(
        passing=(ok(), ok(Patch("key", "policy", DROP))),
        failing=(fail(KEY, Patch("key", "policy", doc(allow("kms:Decrypt", "*", Principal="*")))),
                 fail(KEY, Patch("key", "bypassPolicyLockoutSafetyCheck", True))),
        unknown=u(DEFERRED, Patch("key", "policy", U))),
}
