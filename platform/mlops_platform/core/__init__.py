"""The bottom layer: errors, names, the EC2 instance catalog, pinned versions, the outputs contract and
IAM document builders. Pure Python; imports nothing else of the package."""
