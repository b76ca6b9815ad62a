"""A hub built from docs/protocol.md sends an age-restricted order (`min_age`, recipient digest):
the agent stores it, and a typed code alone no longer opens its door (issue 15)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agent.identity.names import name_digest
from agent.store.orders import get_order
from tests.agent.conftest import RunningAgent
from tests.contract.mini_hub import MiniHub, code_material
from tests.contract.schemas import message_problems
from tests.contract.test_typed_code_end_to_end import CODE, _key, _load, _upsert


async def test_an_age_restricted_order_from_the_hub(
    linked_agent: RunningAgent, mini_hub: MiniHub, tmp_path: Path
) -> None:
    salt = os.urandom(16)
    digest = name_digest(salt, "Zuzanna Quill", "Privacyova")
    policy = {"min_age": 18, "recipient_salt": salt.hex(), "recipient_digest": digest.hex()}
    code = code_material(CODE, await _key(tmp_path))
    args = {"order_id": "EXT-18", "size": "S", "hold_s": 86_400, "policy": policy, "code": code}
    reply = await _upsert(mini_hub, linked_agent, args)
    assert reply["ok"], reply
    order = await linked_agent.agent.db.read(get_order, "EXT-18")
    assert order is not None
    assert (order.policy.min_age, order.policy.recipient_salt) == (18, salt)
    assert order.policy.recipient_digest == digest
    await _load(linked_agent, "EXT-18")
    status, body = await linked_agent.post("/api/v1/pickup/code", {"code": CODE})
    assert (status, body["error"]) == (403, "AGE_CHECK_REQUIRED")
    for bad in ({"min_age": 150}, {"min_age": 18, "recipient_digest": digest.hex()}):
        args = {"order_id": "EXT-19", "size": "S", "hold_s": 3600, "policy": bad}
        reply = await _upsert(mini_hub, linked_agent, args)
        assert (reply["ok"], reply["reason"]) == (False, "BAD_REQUEST"), reply
        assert await asyncio.to_thread(message_problems, "reply", reply) == []
    assert await linked_agent.agent.db.read(get_order, "EXT-19") is None
