"""`python -m agent`: the same as `locker-agent` (agent/cli/main.py)."""

import sys

from agent.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
