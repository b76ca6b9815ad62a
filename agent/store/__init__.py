"""SQLite on a database thread of its own: numbered migrations, outbox, audit, secrets."""
