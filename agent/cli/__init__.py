"""The `locker-agent` command line: run, demo, database, audit and support tools."""
