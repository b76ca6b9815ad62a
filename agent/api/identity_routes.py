"""Identity endpoints: a wallet at the locker (`POST /api/v1/pickup/wallet`)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from agent.api.errors import read_json_object, string_field
from agent.services.identity_check import WalletPickupService
from agent.services.pickup import PickupResult


def _optional(body: dict[str, object], name: str, max_len: int) -> str | None:
    return None if body.get(name) is None else string_field(body, name, max_len=max_len)


def opened(result: PickupResult) -> web.Response:
    return web.json_response(
        {
            "result": "open",
            "door": result.door,
            "order": result.order_id,
            "message": f"Door {result.door} is open",
        }
    )


def wallet_routes(wallet: WalletPickupService) -> Callable[[web.Application], None]:
    """`POST /api/v1/pickup/wallet {"code" | "payload", "engagement"}`: the customer's typed
    code or token names the order, `engagement` is the wallet's QR (`mdoc:` + base64url)."""

    async def pickup_by_wallet(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        result = await wallet.collect(
            code=_optional(body, "code", 64),
            payload=_optional(body, "payload", 4096),
            engagement=string_field(body, "engagement", max_len=4096),
        )
        return opened(result)

    def add(app: web.Application) -> None:
        app.router.add_post("/api/v1/pickup/wallet", pickup_by_wallet)

    return add
