"""Policy modules, one per area. Importing a module registers its policies (see `pack.all_specs`)."""
