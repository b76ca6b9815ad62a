"""The reference hub: one process, one SQLite file, for tests, the demo and small fleets."""
