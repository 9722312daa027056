"""Pulumi entry point (`main: platform/` in Pulumi.yaml). The code lives in the mlops_platform package."""

import sys
from pathlib import Path

# Run from a checkout without installing: make the package importable (the venv has it installed too).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlops_platform.programs.platform import main

main()
