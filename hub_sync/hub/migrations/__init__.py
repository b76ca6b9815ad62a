"""Numbered SQL migrations of the fleet hub's PostgreSQL database."""
