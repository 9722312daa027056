"""ModelServing in every mode a project uses, for the offline engine (tests/k8s/test_model_serving.py)."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from mlops_platform.k8s import ModelServing, ModelServingArgs

IMAGE = "210987654321.dkr.ecr.us-east-1.amazonaws.com/projects/fraud-detector"
provider = k8s.Provider("cluster", kubeconfig="{}", enable_server_side_apply=True)
CASES: dict[str, dict[str, Any]] = {
    "cpu": {"name": "scorer"},
    "gpu-canary": {"name": "ranker", "gpus": 1, "gpu_pool": "a10g", "min_replicas": 3, "max_replicas": 6,
                   "canary_image": f"{IMAGE}:2.0.0", "canary_percent": 25, "memory": "8Gi"},
    "kserve-gpu": {"name": "embedder", "mode": "kserve", "gpus": 1, "gpu_type": "l4"},
    "kserve-serverless-canary": {"name": "tagger", "mode": "kserve", "kserve_deployment_mode": "Serverless",
                                 "canary_image": f"{IMAGE}:2.0.0", "canary_percent": 10},
}
for case, extra in CASES.items():
    # enum fields given by value ("kserve"), as a project's stack config would
    ModelServing(case, ModelServingArgs(namespace="fraud-detector", image=f"{IMAGE}:1.0.0", drift_threshold=0.25,
                                        provider=provider, **extra))
pulumi.export("cases", sorted(CASES))
