"""ModelServing in every mode and delivery strategy a project uses, for the offline engine
(tests/k8s/test_model_serving.py)."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from mlops_platform.k8s import AnalysisThresholds, CanaryWebhook, ModelServing, ModelServingArgs

IMAGE = "210987654321.dkr.ecr.us-east-1.amazonaws.com/projects/fraud-detector"
DOMAIN = "models.internal"
provider = k8s.Provider("cluster", kubeconfig="{}", enable_server_side_apply=True)
WITH_DRIFT = AnalysisThresholds(max_drift=0.25)
#: a load test each analysis round, by the Flagger loadtester of the project's namespace
LOAD_TEST = CanaryWebhook(name="load-test", url="http://flagger-loadtester.fraud-detector.svc.cluster.local/",
                          metadata={"type": "cmd", "cmd": "hey -z 1m -q 5 -c 2 "
                                    "http://pricer-canary.fraud-detector.svc.cluster.local/predict"})
CASES: dict[str, dict[str, Any]] = {
    "cpu-instant": {"name": "scorer", "delivery": "instant"},
    "gpu-canary": {"name": "ranker", "gpus": 1, "gpu_pool": "a10g", "min_replicas": 3, "max_replicas": 6,
                   "memory": "8Gi", "analysis": WITH_DRIFT, "prod": True},
    "cpu-blue-green": {"name": "pricer", "delivery": "blue-green", "webhooks": (LOAD_TEST,)},
    "gpu-mirror": {"name": "reranker", "delivery": "mirror", "gpus": 1, "gpu_type": "l4",
                   "scale_on": "gpu-utilization", "analysis": WITH_DRIFT},
    "kserve-gpu-canary": {"name": "embedder", "mode": "kserve", "gpus": 1, "gpu_type": "l4", "prod": True},
    "kserve-blue-green": {"name": "classifier", "mode": "kserve", "delivery": "blue-green"},
    "kserve-mirror": {"name": "ner", "mode": "kserve", "delivery": "mirror", "scale_on": "in-flight"},
    "kserve-instant": {"name": "tagger", "mode": "kserve", "delivery": "instant"},
    "dev-scale-to-zero": {"name": "sketch", "delivery": "instant", "gpus": 1, "scale_to_zero": True,
                          "min_replicas": 1},
}
for case, extra in CASES.items():
    # enum fields given by value ("kserve"), as a project's stack config would
    ModelServing(case, ModelServingArgs(namespace="fraud-detector", image=f"{IMAGE}:1.0.0", drift_threshold=0.25,
                                        ingress_domain=DOMAIN, provider=provider, **extra))
pulumi.export("cases", sorted(CASES))
