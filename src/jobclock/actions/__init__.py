"""Action executors, one module per action type (§5)."""
