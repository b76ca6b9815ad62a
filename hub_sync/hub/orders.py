"""Order intake: the operator's orders become signed commands to the target locker.

The hub mints the QR token and the typed code with the fleet's keys (through `Credentials`,
which `provisioning/hub_orders.py` implements with provisioning/mint.py and the typed-code
scheme, so this package needs nothing from `agent`), keeps only the code's keyed digest, and
stores the signed command in `commands`. The leader publishes it (queued in the locker's
persistent session while it is offline) and re-sends it until the locker answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import asyncpg

from hub_sync.errors import OrderError, WireError
from hub_sync.hub.db import Conn
from hub_sync.hub.store import add_command
from hub_sync.protocol.commands import (
    CODE_SCHEME,
    MAX_HOLD_S,
    CommandEnvelope,
    encode_command,
    parse_args,
)
from hub_sync.protocol.signing import PrivateKey, sign
from hub_sync.protocol.wire import Header, check_id, new_message_id

SIZES = ("S", "M", "L")
POLICY_FLAGS = ("id_check", "high_value", "accessible")
COMMAND_TTL_S = 14 * 86_400


@dataclass(frozen=True, slots=True)
class Handout:
    """What the caller gets once and must hand to the customer: never stored by the hub."""

    token: str
    code: str


class Credentials(Protocol):
    def handout(self, *, order_id: str, device: str, hold_s: int,
                policy: Mapping[str, bool], now: float) -> tuple[Handout, str]:  # fmt: skip
        """A token and typed code for this order at `device`, and the code's keyed digest."""
        ...


@dataclass(frozen=True, slots=True)
class NewOrder:
    order_id: str
    device: str
    size: str
    hold_s: int
    policy: Mapping[str, bool]

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> NewOrder:
        try:
            order_id = _str(body, "order_id", 64)
            device = check_id(_str(body, "locker", 64), "locker")
        except WireError as err:
            raise OrderError("BAD_REQUEST", 400, err.detail) from err
        size = body.get("size")
        if size not in SIZES:
            raise OrderError("BAD_REQUEST", 400, "size must be S, M or L")
        hold_s = _hold(body.get("hold_s"), "hold_s")
        policy = body.get("policy", {})
        if not isinstance(policy, dict) or any(
            k not in POLICY_FLAGS or not isinstance(v, bool) for k, v in policy.items()
        ):
            raise OrderError("BAD_REQUEST", 400, f"policy: booleans among {POLICY_FLAGS}")
        return cls(order_id, device, str(size), hold_s, dict(policy))


def _str(body: Mapping[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise OrderError("BAD_REQUEST", 400, f"{key}: a string of 1..{limit} characters")
    return value


def _hold(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_HOLD_S:
        raise OrderError("BAD_REQUEST", 400, f"{key}: seconds, 1..{MAX_HOLD_S}")
    return value


_ORDER = "SELECT device, size, hold_s, policy, state FROM orders WHERE fleet = $1 AND order_id = $2"
_ORDER_FOR_UPDATE = _ORDER + " FOR UPDATE"


class _Cmd(NamedTuple):
    device: str
    order_id: str
    name: str
    args: dict[str, Any]


class OrderService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        fleet: str,
        sign_key: PrivateKey,
        credentials: Credentials,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._fleet = fleet
        self._key = sign_key
        self._creds = credentials
        self._clock = clock

    async def create(self, order: NewOrder) -> dict[str, object]:
        now = self._clock()
        handout, digest = self._creds.handout(
            order_id=order.order_id, device=order.device, hold_s=order.hold_s,
            policy=order.policy, now=now,
        )  # fmt: skip
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO orders (fleet, order_id, device, size, hold_s, policy, code_digest,"
                " state, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,"
                " 'announced',$8,$8) ON CONFLICT DO NOTHING RETURNING order_id",
                self._fleet, order.order_id, order.device, order.size, order.hold_s,
                json.dumps(order.policy), digest, now,
            )  # fmt: skip
            if inserted is None:
                raise OrderError("ORDER_EXISTS", 409, "create it once; use extend or redirect")
            cmd = _Cmd(order.device, order.order_id, "order.upsert", _upsert_args(order, digest))
            command = await self._command(conn, cmd, now)
        return {"order_id": order.order_id, "locker": order.device, "command_id": command,
                "token": handout.token, "code": handout.code}  # fmt: skip

    async def cancel(self, order_id: str, body: Mapping[str, Any]) -> dict[str, object]:
        reason = _str(body, "reason", 200)
        args = {"order_id": order_id, "reason": reason}
        return await self._change(order_id, "order.cancel", args, "cancelled")

    async def extend(self, order_id: str, body: Mapping[str, Any]) -> dict[str, object]:
        extend_s = _hold(body.get("extend_s"), "extend_s")
        return await self._change(order_id, "order.extend",
                                  {"order_id": order_id, "extend_s": extend_s}, None)  # fmt: skip

    async def redirect(self, order_id: str, body: Mapping[str, Any]) -> dict[str, object]:
        """Give the order up at its locker and announce it at `locker`: a new token and code."""
        try:
            target = check_id(_str(body, "locker", 64), "locker")
        except WireError as err:
            raise OrderError("BAD_REQUEST", 400, err.detail) from err
        reason = _str(body, "reason", 200)
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._order(conn, order_id, lock=True)
            if row["state"] != "announced":
                raise OrderError("ILLEGAL_TRANSITION", 409, f"order is {row['state']}")
            if row["device"] == target:
                raise OrderError("BAD_REQUEST", 400, "the order is at that locker already")
            order = NewOrder(order_id, target, row["size"], int(row["hold_s"]),
                             json.loads(row["policy"]))  # fmt: skip
            handout, digest = self._creds.handout(order_id=order_id, device=target,
                                                  hold_s=order.hold_s, policy=order.policy,
                                                  now=now)  # fmt: skip
            give_up = {"order_id": order_id, "reason": reason, "destination": target}
            gone = await self._command(
                conn, _Cmd(row["device"], order_id, "order.redirect", give_up), now
            )
            new = await self._command(
                conn, _Cmd(target, order_id, "order.upsert", _upsert_args(order, digest)), now
            )
            await conn.execute(
                "UPDATE orders SET device = $3, code_digest = $4, updated_at = $5"
                " WHERE fleet = $1 AND order_id = $2",
                self._fleet, order_id, target, digest, now,
            )  # fmt: skip
        return {"order_id": order_id, "locker": target, "command_id": new,
                "redirect_command_id": gone, "token": handout.token,
                "code": handout.code}  # fmt: skip

    async def get(self, order_id: str) -> dict[str, object]:
        async with self._pool.acquire() as conn:
            row = await self._order(conn, order_id, lock=False)
            cmds = await conn.fetch(
                "SELECT message_id, device, name, status, reason, result FROM commands"
                " WHERE fleet = $1 AND order_id = $2 ORDER BY created_at",
                self._fleet, order_id,
            )  # fmt: skip
            events = await conn.fetch(
                "SELECT device, seq, kind, created_at FROM events WHERE fleet = $1 AND"
                " (body->>'order_id' = $2 OR body->>'order' = $2) ORDER BY created_at",
                self._fleet, order_id,
            )  # fmt: skip
        return {
            "order_id": order_id, "locker": row["device"], "state": row["state"],
            "size": row["size"], "hold_s": row["hold_s"], "policy": json.loads(row["policy"]),
            "commands": [
                {"command_id": c["message_id"], "locker": c["device"], "name": c["name"],
                 "status": c["status"], "reason": c["reason"],
                 "result": json.loads(c["result"]) if c["result"] else None}
                for c in cmds
            ],
            "events": [{"locker": e["device"], "seq": e["seq"], "kind": e["kind"],
                        "at": e["created_at"]} for e in events],
        }  # fmt: skip

    async def _change(
        self, order_id: str, name: str, args: dict[str, Any], state: str | None
    ) -> dict[str, object]:
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._order(conn, order_id, lock=True)
            if row["state"] != "announced":
                raise OrderError("ILLEGAL_TRANSITION", 409, f"order is {row['state']}")
            command = await self._command(conn, _Cmd(row["device"], order_id, name, args), now)
            await conn.execute(
                "UPDATE orders SET state = coalesce($3, state), updated_at = $4"
                " WHERE fleet = $1 AND order_id = $2",
                self._fleet, order_id, state, now,
            )  # fmt: skip
        return {"order_id": order_id, "locker": row["device"], "command_id": command}

    async def _order(self, conn: Conn, order_id: str, *, lock: bool) -> asyncpg.Record:
        sql = _ORDER_FOR_UPDATE if lock else _ORDER
        row: asyncpg.Record | None = await conn.fetchrow(sql, self._fleet, order_id)
        if row is None:
            raise OrderError("ORDER_UNKNOWN", 404)
        return row

    async def _command(self, conn: Conn, cmd: _Cmd, now: float) -> str:
        """Sign and store one command (published by the leader, re-sent until answered)."""
        device, order_id, name, args = cmd
        parse_args(name, args)  # what the device would refuse as malformed, the hub never sends
        header = Header("command", new_message_id(), self._fleet, device, now)
        tx = new_message_id()
        sig = sign(self._key, fleet=self._fleet, device=device, name=name, transaction_id=tx,
                   args=args, exp=int(now) + COMMAND_TTL_S)  # fmt: skip
        payload = encode_command(CommandEnvelope(header, tx, name, args, sig))
        await add_command(conn, message_id=header.message_id, fleet=self._fleet, device=device,
                          transaction_id=tx, name=name, payload=payload, now=now)  # fmt: skip
        await conn.execute(
            "UPDATE commands SET order_id = $2 WHERE message_id = $1", header.message_id, order_id
        )
        return header.message_id


def _upsert_args(order: NewOrder, digest: str) -> dict[str, Any]:
    return {
        "order_id": order.order_id, "size": order.size, "hold_s": order.hold_s,
        "policy": dict(order.policy),
        # docs/protocol.md, "Typed-code material": the one scheme, a keyed digest, no salt
        "code": {"scheme": CODE_SCHEME, "digest": digest},
    }  # fmt: skip
