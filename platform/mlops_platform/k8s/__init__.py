"""In-cluster components: GPU enablement, serving (KServe + `ModelServing`), progressive delivery and
autoscaling (Flagger + KEDA), monitoring with alerts, tracking (MLflow on RDS), distributed training
(KubeRay) and per-project tenancy. The layer program that wires them is `programs.cluster_layer`."""

from __future__ import annotations

from mlops_platform.k8s.autoscaling import ScaleSignal
from mlops_platform.k8s.delivery import AnalysisThresholds, CanaryWebhook, DeliveryStrategy, WebhookType
from mlops_platform.k8s.model_serving import ModelServing, ModelServingArgs, ServingMode

__all__ = ["AnalysisThresholds", "CanaryWebhook", "DeliveryStrategy", "ModelServing", "ModelServingArgs", "ScaleSignal",
           "ServingMode", "WebhookType"]
