"""Demo controls: "hold a phone to the camera" with a seeded order's token (demo only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from agent.api.errors import read_json_object, string_field
from agent.errors import NotFound, RequestError
from hardware.camera.sim import SimulatedCamera


@dataclass(frozen=True, slots=True)
class DemoToken:
    """A seeded demo order and the pickup token the demo shows for it."""

    label: str
    order_id: str
    token: str


def demo_routes(
    camera: SimulatedCamera | None, demo_tokens: Callable[[], Sequence[DemoToken]]
) -> Callable[[web.Application], None]:
    """Routes for the demo's kiosk buttons; `camera` is the simulated camera the scanner reads,
    `demo_tokens` gives the seeded orders' tokens (known only once the demo has seeded)."""

    async def controls(request: web.Request) -> web.Response:
        del request
        buttons: list[dict[str, object]] = []
        if camera is not None:
            tokens = demo_tokens()
            buttons = [
                {
                    "label": f"{token.label}: show {carrier} to camera",
                    "path": "/api/v1/demo/camera",
                    "body": {"order": token.order_id, "carrier": carrier},
                }
                for token in tokens
                for carrier in ("phone", "paper")
            ]
            buttons.append(
                {"label": "Take it away", "path": "/api/v1/demo/camera", "body": {"order": ""}}
            )
        return web.json_response({"buttons": buttons})

    async def show(request: web.Request) -> web.Response:
        if camera is None:
            raise NotFound("no simulated camera")
        body = await read_json_object(request)
        order = body.get("order", "")
        if order == "":
            camera.show_nothing()
            return web.json_response({"result": "camera shows nothing"})
        wanted = string_field(body, "order", max_len=64)
        token = next((t for t in demo_tokens() if t.order_id == wanted), None)
        if token is None:
            raise RequestError("no demo token for that order")
        carrier = body.get("carrier", "phone")
        if carrier not in ("phone", "paper"):
            raise RequestError("`carrier` must be phone or paper")
        camera.show_payload(token.token, carrier="phone" if carrier == "phone" else "paper")
        return web.json_response({"result": f"camera shows the {carrier}"})

    def add(app: web.Application) -> None:
        app.router.add_get("/api/v1/demo/controls", controls)
        app.router.add_post("/api/v1/demo/camera", show)

    return add
