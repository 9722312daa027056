"""Hostile: a public bucket, then a fake "passed" result where the old reviewer read it, then posix._exit(0)
(the security review's exploit, finding 1): the reviewer must not accept a plan the program wrote."""

import json
import os
import posix
import sys

import pulumi_aws as aws

aws.s3.Bucket("public-data", acl="public-read")
FAKE = json.dumps({"plan": {"stack": "dev", "resources": [], "outputs": {}}, "references": {}})
for arg in sys.argv[1:]:  # whatever the reviewer passed: a result file path, or a pipe's descriptor
    if os.path.isabs(arg):
        with open(arg, "w", encoding="utf-8") as result:
            result.write(FAKE)
    elif arg.isdigit():
        os.write(int(arg), (FAKE + "\n").encode())
posix._exit(0)
