"""AWS layer components: keys, network, artifact store, registry, EKS cluster, node pools, budgets."""
