"""The agent's side of the hub contract: the outbox, hub commands, and the state snapshot.

`hub_sync.DeviceSync` never reads our database or domain; it asks these adapters (the ports in
`hub_sync/device/ports.py`). Commands are applied at most once per `transaction_id`: an inbox row is
written before a command acts and holds its result afterwards, so a re-delivery returns the
stored result and a command interrupted by a crash is never run a second time.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from agent.domain.clock import Clock
from agent.domain.doors import DoorSize
from agent.domain.orders import Order, OrderPolicy
from agent.errors import AgentError, RequestError
from agent.reasons import Reason
from agent.services.expiry import ExpiryService
from agent.services.identity_check import identity_policy
from agent.services.orders import Announcement
from agent.services.returns import ReturnService
from agent.services.trust import TrustService
from agent.store import inbox, journal, outbox
from agent.store.db import Database
from agent.tokens.claims import Purpose
from hub_sync.protocol.commands import (
    TRANSACTION_REUSED,
    AuditKeyRotation,
    Command,
    CommandResult,
    ConfigChange,
    OrderCancel,
    OrderExtend,
    OrderRedirect,
    OrderUpsert,
    RemoteOpen,
    ReturnDecision,
    ReturnExpect,
    Revocation,
    TrustUpdate,
)
from hub_sync.protocol.signing import PublicKey as CommandKey
from hub_sync.protocol.wire import OutboxEvent, OutboxStats

_LOG = logging.getLogger(__name__)


class StoreOutbox:
    """`OutboxSource` over the agent's outbox table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def pending(self, after_seq: int, limit: int) -> Sequence[OutboxEvent]:
        """Up to `limit` unconfirmed events after `after_seq`, oldest first."""
        rows = await self._db.read(outbox.pending, after_seq, limit)
        return [OutboxEvent(r.seq, r.kind, r.transaction_id, r.body, r.created_at) for r in rows]

    async def confirm_through(self, seq: int) -> None:
        """The hub has confirmed every event up to `seq`: they leave the outbox."""
        await self._db.run(outbox.confirm_through, seq)

    async def stats(self) -> OutboxStats:
        """How many events await the hub, and when the oldest was written."""
        depth, oldest = await self._db.read(outbox.depth_and_oldest)
        return OutboxStats(depth=depth, oldest_created_at=oldest)


class StatusSnapshot:
    """`DeviceState`: the same snapshot `/api/v1/status` shows, plus the numeric time floor."""

    def __init__(self, snapshot: Callable[[], Awaitable[Mapping[str, object]]]) -> None:
        self._snapshot = snapshot

    async def snapshot(self) -> Mapping[str, object]:
        """The status snapshot, with the time floor as a top-level number."""
        state = dict(await self._snapshot())
        clock = state.get("clock")
        if isinstance(clock, Mapping):
            state["time_floor"] = clock.get("time_floor")
        return state


def command_keys(trust: TrustService, now: float) -> tuple[CommandKey, ...]:
    """The keys hub commands may be signed with at `now`: purpose "command" in the installed
    bundle, within their validity, and not revoked by the hub since (`trust.revoke` kids)."""
    if trust.bundle is None:
        return ()
    keys = trust.context().trust.keys  # the bundle with the hub's later revocations applied
    return tuple(
        k.public_key
        for k in keys
        if Purpose.COMMAND in k.purposes
        and k.valid_at(now)
        and isinstance(k.public_key, CommandKey)
    )


RemoteOpener = Callable[[str, int, str], Awaitable[None]]


class HubCommands:
    """`CommandSink`: hub commands applied to the agent's services, at most once each."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        expiry: ExpiryService,
        trust: TrustService,
        remote_open: RemoteOpener,
        default_hold_s: float,
        returns: ReturnService | None = None,
        rotate_key: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        self._db = db
        self._rotate_key = rotate_key
        self._clock = clock
        self._expiry = expiry
        self._returns = returns
        self._trust = trust
        self._remote_open = remote_open
        self._default_hold_s = default_hold_s

    async def apply(self, command: Command) -> CommandResult:
        """Applies one hub command once; a repeat gets the first result back."""
        if not command.signed:
            return await self._unsigned(command)
        claimed = await self._db.run(_claim, command, self._now())
        if claimed is not None:
            return claimed
        try:
            result = await self._dispatch(command)
        except AgentError as err:
            result = CommandResult(ok=False, reason=err.reason.value, detail=err.detail[:200])
        await self._db.run(_settle, command, result, self._now())
        _LOG.info("hub command %s: %s", command.name, "ok" if result.ok else result.reason)
        return result

    async def _unsigned(self, command: Command) -> CommandResult:
        """Only the retained trust bundle arrives unsigned (`DeviceSync` refuses every other
        unsigned command). It is verified by the roots and idempotent by version, so it takes no
        inbox row: a bundle refused or already installed writes nothing. Anyone who can publish
        on the trust topic can send any number of distinct payloads, and each one used to claim
        a row and write an audit entry, a database that grew at the broker's rate."""
        if not isinstance(command.args, TrustUpdate):
            return CommandResult(ok=False, reason="SIG_MISSING", detail=command.name[:64])
        try:
            return await self._install_bundle(command.args, self._now())
        except AgentError as err:
            return CommandResult(ok=False, reason=err.reason.value, detail=err.detail[:200])

    def _now(self) -> float:
        return self._clock.now()

    # The handler of each hub command's args type (hub_sync.protocol.commands.COMMANDS): a new
    # command is one line here and its method below.
    HANDLERS: ClassVar[Mapping[type, str]] = {
        OrderUpsert: "_upsert",
        OrderCancel: "_cancel",
        OrderExtend: "_extend",
        OrderRedirect: "_redirect",
        ReturnExpect: "_return_expect",
        ReturnDecision: "_return_decision",
        TrustUpdate: "_install_bundle",
        Revocation: "_revoke",
        RemoteOpen: "_open",
        ConfigChange: "_config_change",
        AuditKeyRotation: "_rotate_audit_key",
    }

    async def _dispatch(self, command: Command) -> CommandResult:
        name = self.HANDLERS.get(type(command.args))
        if name is None:
            return CommandResult(ok=False, reason=Reason.BAD_REQUEST.value, detail="unknown")
        handler: Callable[[Any, float], Awaitable[CommandResult]] = getattr(self, name)
        return await handler(command.args, self._now())

    async def _upsert(self, args: OrderUpsert, now: float) -> CommandResult:
        del now
        return _state(await self._expiry.upsert_announcement(self._announcement(args)))

    async def _cancel(self, args: OrderCancel, now: float) -> CommandResult:
        return _state(await self._expiry.cancel(args.order_id, now))

    async def _extend(self, args: OrderExtend, now: float) -> CommandResult:
        return _state(await self._expiry.extend(args.order_id, float(args.extend_s), now))

    async def _redirect(self, args: OrderRedirect, now: float) -> CommandResult:
        return _state(await self._expiry.redirect(args.order_id, args.destination, now))

    async def _return_expect(self, args: ReturnExpect, now: float) -> CommandResult:
        del now
        if self._returns is None:
            raise RequestError("this locker takes no returns")
        code_key = None if args.code is None else args.code.digest
        await self._returns.expect(args.order_ref, _size(args.size), code_key)
        return CommandResult(ok=True, data={"return": args.order_ref})

    async def _revoke(self, args: Revocation, now: float) -> CommandResult:
        del now
        await self._trust.revoke(args.ctis, args.kids)
        return CommandResult(ok=True)

    async def _rotate_audit_key(self, args: AuditKeyRotation, now: float) -> CommandResult:
        del now
        if self._rotate_key is None:
            raise RequestError("this locker does not rotate its audit key")
        kids = await self._rotate_key()
        _LOG.info("audit key rotated on the hub's word (%s)", args.reason)
        return CommandResult(ok=True, data=dict(kids))

    async def _open(self, args: RemoteOpen, now: float) -> CommandResult:
        del now
        await self._remote_open("hub", args.door, args.reason or "remote open")
        return CommandResult(ok=True, data={"door": args.door})

    def _announcement(self, args: OrderUpsert) -> Announcement:
        # the parser accepted only `hmac-sha256`: the digest is our own code lookup key
        code_key = None if args.code is None else args.code.digest
        policy = args.policy
        return Announcement(
            order_id=args.order_id,
            size=_size(args.size),
            hold_s=float(args.hold_s or self._default_hold_s),
            policy=OrderPolicy(
                live_required=bool(policy.get("live_required")),
                id_check_required=bool(policy.get("id_check")),
                high_value=bool(policy.get("high_value")),
                accessible=bool(policy.get("accessible")),
                **identity_policy(policy),
            ),
            code_key=code_key,
        )

    async def _return_decision(self, args: ReturnDecision, now: float) -> CommandResult:
        if args.decision == "return_to_sender":
            return _state(await self._expiry.return_to_sender(args.order_id, now))
        if args.decision == "keep" and args.hold_s:
            return _state(await self._expiry.extend(args.order_id, float(args.hold_s), now))
        raise RequestError("decision must be return_to_sender or keep")

    async def _install_bundle(self, args: TrustUpdate, now: float) -> CommandResult:
        del now
        try:
            data = base64.b64decode(args.bundle, validate=True)
        except ValueError:
            return CommandResult(ok=False, reason=Reason.BAD_REQUEST.value, detail="base64")
        bundle = await self._trust.install(data, source="hub")
        return CommandResult(ok=True, data={"version": bundle.version})

    async def _config_change(self, args: ConfigChange, now: float) -> CommandResult:
        del now
        applied = await self._trust.apply_overrides(args.changes)
        return CommandResult(ok=True, data={"applied": sorted(applied)})


def _state(order: Order) -> CommandResult:
    return CommandResult(ok=True, data={"state": order.state.value})


def _size(text: str) -> DoorSize:
    try:
        return DoorSize(text.upper())
    except ValueError:
        raise RequestError("size must be S, M or L") from None


def _claim(conn: sqlite3.Connection, command: Command, now: float) -> CommandResult | None:
    """The stored result of this transaction, or None after claiming it for a first run.

    A transaction id is bound to the command it was first used for (name and args digest): the
    same id with anything else is refused, so nobody can squat an id the hub will use later."""
    entry = inbox.find(conn, command.transaction_id)
    if entry is None:
        inbox.claim(conn, command.transaction_id, command.name, command.args_digest, now)
        return None
    if entry.kind != command.name or (
        entry.args_digest is not None and entry.args_digest != command.args_digest
    ):
        return CommandResult(
            ok=False, reason=TRANSACTION_REUSED, detail="transaction id used for another command"
        )
    if entry.result == inbox.APPLYING:
        # The agent stopped while applying it: never run a command twice; the hub decides.
        return CommandResult(ok=False, reason="INTERRUPTED", detail="re-send with a new id")
    stored = json.loads(entry.result)
    return CommandResult(
        stored["ok"], stored.get("reason"), stored.get("detail", ""), stored.get("data", {})
    )


def _settle(conn: sqlite3.Connection, command: Command, result: CommandResult, now: float) -> None:
    stored = {
        "ok": result.ok,
        "reason": result.reason,
        "detail": result.detail,
        "data": dict(result.data),
    }
    inbox.settle(conn, command.transaction_id, journal.canonical_json(stored), now)
    journal.append_audit(
        conn,
        "hub.command",
        now=now,
        actor="hub",
        detail={
            "name": command.name,
            "transaction": command.transaction_id,
            "ok": result.ok,
            "reason": result.reason,
        },
    )
