"""`mlplat mirror ENV`: what an operator runs before the first `up` of an air-gapped environment
(docs/air-gapped.md), as commands: copy the images no pull-through cache serves into their platform
repositories (crane), and pull every pinned chart into the runner image's chart directory (helm).

Pure: it prints commands for tools the operator trusts (crane, helm, aws); it talks to no registry itself.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from mlops_platform.config import PlatformConfig
from mlops_platform.core.chart_images import ManualCopy, manual_copies
from mlops_platform.core.errors import UsageError
from mlops_platform.core.versions import CHARTS, MIRRORED_IMAGES, autoscaler_chart
from mlops_platform.programs.common import environment_mirror, installed_charts, tracking_on


@dataclass(frozen=True)
class MirrorPlan:
    env: str
    registry: str
    region: str
    copies: tuple[ManualCopy, ...]
    """Images an operator copies (crane copy source target)."""
    charts: tuple[tuple[str, str, str], ...]
    """(chart, version, repository URL or '' for oci://) of every chart the runner image vendors."""
    chart_directory: str

    def commands(self) -> list[str]:
        """A shell script: log in to ECR, copy each image, pull each chart (for the runner image build)."""
        login = (f"aws ecr get-login-password --region {self.region} | crane auth login {self.registry} "
                 "--username AWS --password-stdin")
        # Platform repositories have immutable tags: a second run (or one after a new EFA/MIG pool) skips every
        # tag already there (`crane digest` fails on a missing one) instead of failing on it.
        copies = [f"crane digest {shlex.quote(c.target)} >/dev/null 2>&1 || "
                  f"crane copy {shlex.quote(c.source)} {shlex.quote(c.target)}" for c in self.copies]
        pulls = [" ".join(["helm", "pull", shlex.quote(chart), "--version", shlex.quote(version),
                           *(["--repo", shlex.quote(repo)] if repo else []), "-d", shlex.quote(self.chart_directory)])
                 for chart, version, repo in self.charts]
        return ["# images no pull-through cache serves, into their platform repositories", login, *copies,
                f"# charts the runner image vendors (run where the image is built, into {self.chart_directory})",
                f"mkdir -p {shlex.quote(self.chart_directory)}", *pulls]

    def to_json(self) -> dict[str, object]:
        return {"env": self.env, "registry": self.registry, "chart_directory": self.chart_directory,
                "copies": [{"source": c.source, "target": c.target, "repository": c.repository} for c in self.copies],
                "charts": [{"chart": c, "version": v, "repository": r} for c, v, r in self.charts],
                "commands": self.commands()}


def mirror_plan(cfg: PlatformConfig) -> MirrorPlan:
    """The copies and chart pulls of an environment that mirrors its images (UsageError otherwise)."""
    env = cfg.environment
    if not cfg.mirroring:
        raise UsageError(f"{env.name} does not mirror its images (registry.mirror.enabled, on by default with "
                         "network.nat: none): its nodes pull from the upstream registries; nothing to copy")
    mirror = environment_mirror(cfg)
    keys = installed_charts(cfg)
    copies = manual_copies(keys, mirror)
    if tracking_on(cfg):
        mlflow = MIRRORED_IMAGES["mlflow"]
        source = f"{mlflow.source}:{mlflow.tag}"
        copies.append(ManualCopy(
            source=source, target=f"{mirror.registry}/{mirror.namespace}/{mlflow.repository}:{mlflow.tag}",
            repository=mlflow.repository))
    charts = [autoscaler_chart(cfg.cluster.version) if k == "cluster-autoscaler" else CHARTS[k] for k in keys]
    return MirrorPlan(env=env.name, registry=mirror.registry, region=env.region, copies=tuple(copies),
                      charts=tuple((c.chart, c.version, c.repository) for c in charts),
                      chart_directory=cfg.registry.mirror.chart_directory)
