"""`locker-hub`: the fleet hub's command line.

    locker-hub run|worker|device-key ...             hub workers (hub_sync/hub/cli.py)
    locker-hub presign-bundles --root R --key K.json ... --out DIR --count N
                                                     offline: a series of root-signed bundles
    locker-hub api --fleet F --dsn ... --sign-key K --issuing-key I --enrolled DIR --api-key-file A
                                                     order intake HTTP API, /metrics, OpenAPI
    locker-hub simulate-trust --days N               a locker and the hub for N simulated days
    locker-hub enroll-service --fleet F --broker mosquitto|nats ...
                                                     enrollment, broker credentials,
                                                     revocation, rotation (enroll_main.py)

It lives in `provisioning` because its offline tools sign with the fleet's roots and run a real
locker agent; `hub_sync` itself never imports `agent` (docs/hub.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from hub_sync.hub import cli as fleet_cli
from provisioning import hub_orders
from provisioning.errors import ProvisioningError
from provisioning.keyfiles import load_descriptor, load_private_key
from provisioning.trust_series import DAY, presign_series


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="locker-hub", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", help="N supervised hub workers (see locker-hub run --help)")
    sub.add_parser("worker", help="one hub worker in this process")
    sub.add_parser("device-key", help="enroll a locker's audit device key")
    pre = sub.add_parser("presign-bundles", help="offline: sign a series of trust bundles")
    pre.add_argument("--root", required=True, type=Path, help="fleet root private key (PEM)")
    pre.add_argument("--key", required=True, type=Path, action="append",
                     help="issuing/command key descriptor JSON to list (repeatable)")  # fmt: skip
    pre.add_argument("--out", required=True, type=Path)
    pre.add_argument("--first-version", type=int, required=True)
    pre.add_argument("--start", type=float, help="issued_at of the first (default: now)")
    pre.add_argument("--count", type=int, default=120)
    pre.add_argument("--every-days", type=float, default=1.0)
    pre.add_argument("--valid-days", type=float, default=7.0)
    pre.add_argument(
        "--passphrase-file",
        type=Path,
        help="passphrase of an encrypted --root (else $LOCKER_ADMIN_PASSPHRASE)",
    )
    hub_orders.add_args(sub.add_parser("api", help="order intake HTTP API, /metrics, OpenAPI"))
    from provisioning import trust_sim

    trust_sim.add_args(sub.add_parser("simulate-trust", help="N simulated days, 0 = never stale"))
    from provisioning import enroll_main

    enroll_main.add_args(sub.add_parser("enroll-service", help="device enrollment and credentials"))
    return p


def _serve_api(ns: argparse.Namespace) -> int:
    try:
        asyncio.run(hub_orders.serve(ns))
    except ProvisioningError as err:
        print(f"locker-hub: error: {err}", file=sys.stderr)
        return int(err.status)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `locker-hub` command: run the command the arguments name; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["run"], ["worker"], ["device-key"]):
        return fleet_cli.main(args)
    ns = _parser().parse_args(args)
    if ns.cmd == "api":
        return _serve_api(ns)
    if ns.cmd == "enroll-service":
        from provisioning import enroll_main

        return enroll_main.main(ns)
    if ns.cmd == "simulate-trust":
        from provisioning import trust_sim

        return trust_sim.run(ns)
    try:
        manifest = presign_series(
            load_private_key(ns.root, ns.passphrase_file),
            [load_descriptor(k) for k in ns.key], ns.out,
            first_version=ns.first_version, start=ns.start or time.time(), count=ns.count,
            every_s=ns.every_days * DAY, valid_s=ns.valid_days * DAY,
        )  # fmt: skip
    except ProvisioningError as err:
        print(f"locker-hub: error: {err}", file=sys.stderr)
        return int(err.status)
    print(
        f"{len(manifest)} bundles v{manifest[0]['version']}..v{manifest[-1]['version']} in {ns.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
