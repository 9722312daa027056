"""Reviewed, pinned versions: EKS releases the platform supports, Helm charts and images.

Change versions only here, in a reviewed commit; nothing else in the code names a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class EksRelease:
    version: str
    end_of_standard_support: date
    end_of_extended_support: date


#: Amazon EKS Kubernetes release calendar (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
EKS_RELEASES: dict[str, EksRelease] = {
    r.version: r
    for r in (
        EksRelease("1.31", date(2025, 11, 26), date(2026, 11, 26)),
        EksRelease("1.32", date(2026, 3, 23), date(2027, 3, 23)),
        EksRelease("1.33", date(2026, 7, 29), date(2027, 7, 29)),
        EksRelease("1.34", date(2026, 12, 2), date(2027, 12, 2)),
        EksRelease("1.35", date(2027, 3, 27), date(2028, 3, 27)),
    )
}
SUPPORTED_EKS_VERSIONS: tuple[str, ...] = tuple(EKS_RELEASES)
