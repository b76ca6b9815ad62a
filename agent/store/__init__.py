"""SQLite through aiosqlite: the database thread, numbered migrations, outbox, audit, secrets."""
