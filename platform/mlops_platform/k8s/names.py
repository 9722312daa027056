"""Names of in-cluster layer AWS resources, derived only from stable inputs (never list positions)."""

from __future__ import annotations

import hashlib

#: IAM role names are limited to 64 characters.
IAM_NAME_MAX = 64


def iam_name(*parts: str, limit: int = IAM_NAME_MAX) -> str:
    """`a-b-c`, or a truncated form with a stable hash suffix when too long (still unique per input)."""
    full = "-".join(parts)
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - 9].rstrip('-')}-{digest}"
