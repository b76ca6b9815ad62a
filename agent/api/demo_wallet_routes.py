"""Demo control: "hold a phone with a wallet to the locker" for an age-restricted order.

`POST /api/v1/demo/wallet {"order", "age"}` makes a simulated person of that age, has the
demo's simulated issuer give them a PID, lets their phone show its QR engagement, and runs the
wallet pickup with the order's demo token: the door opens for 18+, and is refused otherwise.
`GET /api/v1/demo/wallet` lists the buttons.

For the kiosk's own wallet screen, `POST /api/v1/demo/wallet/camera {"age", "issuer"}` has such a
phone show its QR to the simulated camera: the kiosk's real path (camera -> feed -> wallet screen
-> `POST /api/v1/pickup/wallet`) then runs. `issuer: "unknown"` is a wallet whose issuer the
locker does not trust. Those buttons are `camera` in the GET answer. Demo only (the people are
made up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiohttp import web

from agent.api.demo_routes import DemoToken
from agent.api.errors import read_json_object, string_field
from agent.api.identity_routes import opened
from agent.errors import NotFound, RequestError
from agent.identity.simulated_wallet import (
    SimulatedIssuer,
    SimulatedWallet,
    SimulatedWalletLink,
    person_aged,
)
from agent.services.identity_check import WalletPickupService
from hardware.camera.sim import SimulatedCamera

DEMO_AGES = (25, 16)
# (label, age, issuer) of the kiosk's demo wallets shown to the simulated camera
CAMERA_WALLETS = (
    ("Wallet of a 25-year-old: show its QR to the camera", 25, "known"),
    ("Wallet of a 16-year-old: show its QR to the camera", 16, "known"),
    ("Wallet from an unknown issuer (age 30): show its QR to the camera", 30, "unknown"),
)


def demo_wallet_routes(
    issuer: SimulatedIssuer,
    link: SimulatedWalletLink,
    wallet_service: Callable[[], WalletPickupService | None],
    age_orders: Callable[[], Sequence[DemoToken]],
    now: Callable[[], float],
    *,
    camera: SimulatedCamera | None = None,
) -> Callable[[web.Application], None]:
    """Routes for the simulated wallet; `age_orders` gives the age-restricted demo orders,
    `camera` the simulated camera the kiosk's scanner reads (None: no camera buttons)."""
    strangers: list[SimulatedIssuer] = []  # made on first use (key generation)

    async def issuer_named(name: str, moment: float) -> SimulatedIssuer:
        if name == "known":
            return issuer
        if not strangers:
            strangers.append(
                await asyncio.to_thread(SimulatedIssuer, now=moment, name="Unknown issuer")
            )
        return strangers[0]

    async def buttons(request: web.Request) -> web.Response:
        del request
        return web.json_response(
            {
                "buttons": [
                    {
                        "label": f"{order.label}: wallet of a {age}-year-old",
                        "path": "/api/v1/demo/wallet",
                        "body": {"order": order.order_id, "age": age},
                    }
                    for order in age_orders()
                    for age in DEMO_AGES
                ],
                "camera": [
                    {
                        "label": label,
                        "path": "/api/v1/demo/wallet/camera",
                        "body": {"age": age, "issuer": which},
                    }
                    for label, age, which in (CAMERA_WALLETS if camera is not None else ())
                ],
            }
        )

    async def to_camera(request: web.Request) -> web.Response:
        if camera is None:
            raise NotFound("no simulated camera")
        body = await read_json_object(request)
        age = _age(body)
        which = body.get("issuer", "known")
        if which not in ("known", "unknown"):
            raise RequestError("`issuer` must be known or unknown")
        moment = now()
        today = datetime.fromtimestamp(moment, UTC).date()
        person = person_aged(age, today=today, given="Demo", family="Customer")
        source = await issuer_named(str(which), moment)
        wallet = SimulatedWallet(source.issue_pid(person, now=moment))
        camera.show_payload(link.show(wallet), carrier="phone")
        return web.json_response({"result": "the camera sees the wallet's QR"})

    async def present(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        wanted = string_field(body, "order", max_len=64)
        age = _age(body)
        order = next((o for o in age_orders() if o.order_id == wanted), None)
        service = wallet_service()
        if order is None or service is None:
            raise NotFound("no age-restricted demo order")
        moment = now()
        today = datetime.fromtimestamp(moment, UTC).date()
        person = person_aged(age, today=today, given="Demo", family="Customer")
        wallet = SimulatedWallet(issuer.issue_pid(person, now=moment))
        qr = link.show(wallet)  # the phone shows its QR; the locker reads it
        result = await service.collect(code=None, payload=order.token, engagement=qr)
        return opened(result)

    def add(app: web.Application) -> None:
        app.router.add_get("/api/v1/demo/wallet", buttons)
        app.router.add_post("/api/v1/demo/wallet", present)
        app.router.add_post("/api/v1/demo/wallet/camera", to_camera)

    return add


def _age(body: dict[str, object]) -> int:
    age = body.get("age")
    if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 120:
        raise RequestError("`age` must be an integer 0..120")
    return age
