"""The validator: repository files → per-cluster builds → rules → findings → reports (DESIGN.md §5)."""
