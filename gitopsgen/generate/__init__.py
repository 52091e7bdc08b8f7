"""The generator: intent (the model, its checks and YAML form) → render (pure, one module per component) → plans
and the tree writer (ownership, journal, lock), plus the fleet operations, registry credentials (SOPS) and the
scaffold ``init`` writes. Never imports :mod:`gitopsgen.validate`."""
