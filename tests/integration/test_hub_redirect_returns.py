"""`order.redirect` and `return.expect` from the hub to the real agent (issue 10: 5 and 12)."""

from __future__ import annotations

import random
from pathlib import Path

from agent.domain.orders import OrderState
from agent.services.collection import list_pickups
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from hub_sync.protocol.commands import CODE_SCHEME
from tests.agent.conftest import RunningAgent
from tests.integration.conftest import RunningHub, hub_events, wait_for
from tests.integration.test_hub_commands import code_material, connected, load, order_of, send

_RNG = random.Random(105)


async def test_a_redirected_order_is_given_up_here(
    hub_agent: RunningAgent, signing_hub: RunningHub, tmp_path: Path
) -> None:
    await connected(hub_agent)
    code = display_code(new_typed_code(_RNG))
    for order_id in ("RED-A", "RED-B"):
        args = {"order_id": order_id, "size": "S", "hold_s": 3600, "policy": {},
                "code": code_material(code if order_id == "RED-A" else display_code(
                    new_typed_code(_RNG)), hub_agent.agent.typed_code_secret)}  # fmt: skip
        assert (await send(signing_hub, "order.upsert", args))[0] == "ok"
    door = await load(hub_agent, "RED-B")
    pulses = list(hub_agent.sim.pulses)

    # not loaded yet: simply dropped, its code opens nothing
    redirect = {"order_id": "RED-A", "reason": "customer asked", "destination": "L-0042"}
    assert await send(signing_hub, "order.redirect", redirect) == (
        "ok", None, {"state": "cancelled"},
    )  # fmt: skip
    status, _ = await hub_agent.post("/api/v1/pickup/code", {"code": code})
    assert status != 200
    assert hub_agent.sim.pulses == pulses

    # loaded: it stays in its door for a courier, as on a cancel
    outcome = await send(signing_hub, "order.redirect", {"order_id": "RED-B", "reason": "moved"})
    assert outcome[:2] == ("ok", None)
    pickups = await hub_agent.agent.db.read(list_pickups)
    assert [(p.kind, p.ref, p.door) for p in pickups] == [("retrieval", "RED-B", door)]
    order = await order_of(hub_agent, "RED-B")
    assert order is not None
    assert order.state is OrderState.LOADED  # until the courier takes it out

    # the hub is told, with a kind of its own
    def redirected() -> list[dict[str, object]]:
        stored = hub_events(tmp_path / "hub.db")
        return [e.body for e in stored if e.kind == "order.redirected"]

    await wait_for(lambda: len(redirected()) == 2, 10, "the redirects at the hub")
    assert redirected() == [
        {"order": "RED-A", "door": None, "destination": "L-0042"},
        {"order": "RED-B", "door": door, "destination": None},
    ]
    # a redirect of what is already gone is refused
    gone = await send(signing_hub, "order.redirect", {"order_id": "NOPE", "reason": "x"})
    assert gone[:2] == ("nack", "ORDER_UNKNOWN")


async def test_a_hub_announced_return_code_opens_a_door(
    hub_agent: RunningAgent, signing_hub: RunningHub, tmp_path: Path
) -> None:
    await connected(hub_agent)
    code = display_code(new_typed_code(_RNG))
    digest = code_lookup_key(code, hub_agent.agent.typed_code_secret)
    args = {"order_ref": "RET-77", "size": "M",
            "code": {"scheme": CODE_SCHEME, "digest": digest}}  # fmt: skip
    assert await send(signing_hub, "return.expect", args) == ("ok", None, {"return": "RET-77"})
    bad = await send(signing_hub, "return.expect", {**args, "size": "XL"})
    assert bad[:2] == ("nack", "BAD_REQUEST")
    status, body = await hub_agent.post("/api/v1/returns/start", {"code": code})
    assert (status, body["result"], body["return"]) == (200, "open", "RET-77")
    assert hub_agent.sim.pulses == [body["door"]]
    status, _ = await hub_agent.post("/api/v1/returns/start", {"code": code})
    assert status == 409  # handed in already

    def dropped_off_at_hub() -> bool:
        return any(e.kind == "return.dropped_off" for e in hub_events(tmp_path / "hub.db"))

    await wait_for(dropped_off_at_hub, 10, "the drop-off at the hub")
