"""Run parliament over policy documents, in parliament's own environment (see test_oracles.py).

stdin: JSON [[subject, document], ...]; stdout: JSON [[issue, subject], ...]. Kept apart from the platform's
venv: parliament imports `pkg_resources`, which the setuptools the platform's dependencies pull no longer has.
"""

from __future__ import annotations

import json
import sys

import parliament


def main() -> None:
    found = []
    for subject, document in json.load(sys.stdin):
        policy = parliament.analyze_policy_string(json.dumps(document), ignore_private_auditors=True)
        found += [[f.issue, subject] for f in policy.findings]
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    main()
