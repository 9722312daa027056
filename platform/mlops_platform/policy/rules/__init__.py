"""Policy modules, one per area. Importing a module registers its policies (see `registry.all_specs`)."""
