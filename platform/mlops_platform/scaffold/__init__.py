"""Project templates: `mlplat new` (validated answers, platform wiring, render, git) and `mlplat fleet`
(template version and drift of many project repositories, bulk `copier update`)."""

from __future__ import annotations

from mlops_platform.scaffold.answers import TemplateAnswers, parse_data_args, validate_answers
from mlops_platform.scaffold.fleet import ProjectStatus, UpdateOutcome, UpdateResult, check, update
from mlops_platform.scaffold.new import NewProject, entry_yaml, new_project
from mlops_platform.scaffold.outputs import ResolvedOutputs, resolve_outputs
from mlops_platform.scaffold.project_names import ProjectNames, project_names

__all__ = [
    "NewProject",
    "ProjectNames",
    "ProjectStatus",
    "ResolvedOutputs",
    "TemplateAnswers",
    "UpdateOutcome",
    "UpdateResult",
    "check",
    "entry_yaml",
    "new_project",
    "parse_data_args",
    "project_names",
    "resolve_outputs",
    "update",
    "validate_answers",
]
