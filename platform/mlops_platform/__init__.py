"""mlops-platform: Pulumi MLOps platform on AWS/EKS, project templates, policy reviews, `mlplat` CLI."""

__version__ = "0.1.0"

__all__ = ["__version__"]
