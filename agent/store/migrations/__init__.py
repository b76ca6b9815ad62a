"""Numbered SQL migrations of the agent database, applied in one transaction by store.db."""
