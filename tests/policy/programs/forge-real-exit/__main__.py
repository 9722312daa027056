"""Hostile: a fake result on the reviewer's channel, then the exit the reviewer saved for itself (no hard-exit
report): an exit status 0 without the reviewer's own completion message is still not a plan."""

import json
import os
import sys

import pulumi_aws as aws

aws.s3.Bucket("public-data", acl="public-read")
for arg in sys.argv[1:]:
    if arg.isdigit():
        os.write(int(arg), (json.dumps({"plan": {"stack": "dev", "resources": [], "outputs": {}}}) + "\n").encode())
frame = sys._getframe()
while "_real_exit" not in frame.f_globals:  # up to the reviewer's child module, whatever it is called
    frame = frame.f_back
frame.f_globals["_real_exit"](0)
