"""Demo control: "hold a phone with a wallet to the locker" for an age-restricted order.

`POST /api/v1/demo/wallet {"order", "age"}` makes a simulated person of that age, has the
demo's simulated issuer give them a PID, lets their phone show its QR engagement, and runs the
wallet pickup with the order's demo token: the door opens for 18+, and is refused otherwise.
`GET /api/v1/demo/wallet` lists the buttons. Demo only (the people are made up).
"""

from __future__ import annotations

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

DEMO_AGES = (25, 16)


def demo_wallet_routes(
    issuer: SimulatedIssuer,
    link: SimulatedWalletLink,
    wallet_service: Callable[[], WalletPickupService | None],
    age_orders: Callable[[], Sequence[DemoToken]],
    now: Callable[[], float],
) -> Callable[[web.Application], None]:
    """Routes for the simulated wallet; `age_orders` gives the age-restricted demo orders."""

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
                ]
            }
        )

    async def present(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        wanted = string_field(body, "order", max_len=64)
        age = body.get("age")
        if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 120:
            raise RequestError("`age` must be an integer 0..120")
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

    return add
