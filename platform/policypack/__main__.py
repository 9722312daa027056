"""Entry point the Pulumi CLI runs for `--policy-pack platform/policypack`.

It only builds the PolicyPack: constructing one starts the analyzer's gRPC server and blocks, so the
policies themselves live in the importable `mlops_platform.policy` package (tested offline).
"""

import sys
from pathlib import Path

# The pack runs from its own virtualenv; the policies are the repository's package one directory up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlops_platform.policy.pack import PACK_NAME, build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="mlops-platform guardrails; per-environment levels come from `mlplat policy config ENV`.",
    provider="aws",
    tags=["aws", "eks", "kubernetes", "mlops"],
)
