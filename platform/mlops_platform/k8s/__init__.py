"""The in-cluster layer: GPU enablement, serving (KServe + `ModelServing`), monitoring with alerts,
tracking (MLflow on RDS), distributed training (KubeRay) and per-project tenancy."""

from __future__ import annotations

from mlops_platform.k8s.bench import bench_projects, with_projects
from mlops_platform.k8s.layer import ClusterLayerOutputs, deploy_cluster_layer
from mlops_platform.k8s.model_serving import ModelServing, ModelServingArgs, ServingMode

__all__ = ["ClusterLayerOutputs", "ModelServing", "ModelServingArgs", "ServingMode", "bench_projects",
           "deploy_cluster_layer", "with_projects"]
