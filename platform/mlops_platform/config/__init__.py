"""Typed stack configuration: schema, rules and loader."""

from mlops_platform.config.loader import (
    NAMESPACE,
    check_env_name,
    env_stack_file,
    load_env,
    load_from_pulumi_config,
    load_stack_file,
    repo_root,
    shipped_envs,
    stack_file_for,
)
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.config.sections import Tier

__all__ = [
    "NAMESPACE",
    "PlatformConfig",
    "Tier",
    "check_env_name",
    "env_stack_file",
    "load_env",
    "load_from_pulumi_config",
    "load_stack_file",
    "repo_root",
    "shipped_envs",
    "stack_file_for",
]
