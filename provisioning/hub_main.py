"""`locker-hub`: the fleet hub's command line.

    locker-hub run|worker ...          hub workers (hub_sync.fleet.cli; docs/hub.md)

It lives in `provisioning` because its offline tools sign with the fleet's roots and run a
simulated locker, which need the agent's token code; `hub_sync` itself never imports `agent`.
"""

from __future__ import annotations

import sys

from hub_sync.fleet import cli as fleet_cli


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return fleet_cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
