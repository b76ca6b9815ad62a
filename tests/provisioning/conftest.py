"""The hub database fixture of the fleet tests (a scratch PostgreSQL database per test)."""

from tests.fleet.conftest import dsn

__all__ = ["dsn"]
