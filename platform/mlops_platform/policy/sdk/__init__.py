"""The toolkit policies are written with: plain values, the resource graph, type tokens, IAM and k8s readers."""
