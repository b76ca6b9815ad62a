"""Logging setup and the Prometheus metrics the services record and `/metrics` serves."""
