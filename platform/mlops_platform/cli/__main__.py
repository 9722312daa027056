"""`python -m mlops_platform.cli`: the `mlplat` command."""

import sys

from mlops_platform.cli.mlplat import main

sys.exit(main())
