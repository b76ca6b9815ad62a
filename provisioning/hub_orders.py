"""The fleet hub's credentials for order intake: tokens and typed codes with the fleet's keys.

`FleetCredentials.handout` mints the QR token with the issuing key (provisioning/mint.py) for
the one target locker, draws a typed code, and computes its `hmac-sha256` digest with that
locker's typed-code key from its enrollment folder (`<enrolled>/<locker>/typed-code.key`,
written by `locker-admin device enroll`). The hub stores only the digest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from agent.tokens.claims import TokenFlags
from agent.tokens.keys import PrivateKey
from agent.tokens.typed_codes import code_lookup_key, new_typed_code
from hub_sync.errors import OrderError, SignatureError
from hub_sync.hub.api import make_app
from hub_sync.hub.db import connect_pool
from hub_sync.hub.orders import Handout, OrderService
from hub_sync.protocol.signing import load_private_key_file
from provisioning.enroll import read_code_key
from provisioning.errors import ExitStatus, ProvisioningError
from provisioning.keyfiles import load_private_key
from provisioning.mint import mint_token


class FleetCredentials:
    """The fleet's issuing key and enrolled lockers, to hand out an order's token and typed code."""

    def __init__(self, issuing_key: PrivateKey, enrolled: Path) -> None:
        self._key = issuing_key
        self._enrolled = enrolled
        self._rng = random.SystemRandom()

    def handout(
        self, *, order_id: str, device: str, hold_s: int, policy: Mapping[str, bool], now: float
    ) -> tuple[Handout, str]:
        """An order's QR token and typed code for locker `device`, and the code's digest (the hub
        keeps only the digest)."""
        try:
            code_key = read_code_key(self._enrolled / device / "typed-code.key")
        except ProvisioningError:
            raise OrderError("LOCKER_UNKNOWN", 404, "no enrolled locker of that id") from None
        flags = TokenFlags(id_check=policy.get("id_check", False),
                           high_value=policy.get("high_value", False))  # fmt: skip
        token = mint_token(self._key, order_ref=order_id, lockers=[device], now=now,
                           hold_s=hold_s, flags=flags)  # fmt: skip
        code = new_typed_code(self._rng)
        return Handout(token, code), code_lookup_key(code, code_key)


def add_args(p: argparse.ArgumentParser) -> None:
    """Add the order intake API's options."""
    p.add_argument("--fleet", required=True)
    p.add_argument("--dsn", required=True)
    p.add_argument("--sign-key", required=True, type=Path, help="fleet command key (PEM)")
    p.add_argument("--issuing-key", required=True, type=Path, help="token issuing key (PEM)")
    p.add_argument("--enrolled", required=True, type=Path, help="folder of enrolled lockers")
    p.add_argument("--api-key-file", required=True, type=Path)
    p.add_argument(
        "--passphrase-file",
        type=Path,
        help="passphrase of encrypted keys (else $LOCKER_ADMIN_PASSPHRASE)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8470)


async def serve(ns: argparse.Namespace) -> None:
    """Serve the order intake API until SIGTERM or SIGINT."""
    creds = FleetCredentials(load_private_key(ns.issuing_key, ns.passphrase_file), ns.enrolled)
    try:
        sign_key = load_private_key_file(ns.sign_key, ns.passphrase_file)
    except SignatureError as err:
        raise ProvisioningError(str(err), ExitStatus.PASSPHRASE) from err
    pool = await connect_pool(ns.dsn)
    service = OrderService(pool, ns.fleet, sign_key, creds)
    api_key = ns.api_key_file.read_text("utf-8").strip()
    runner = web.AppRunner(make_app(service, pool, ns.fleet, api_key))
    await runner.setup()
    await web.TCPSite(runner, ns.host, ns.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        await pool.close()
