"""The device side of commands: decode, validate, verify, apply once, answer with ack or nack.

Nothing a hub (or an attacker on the broker) sends can crash this: every defect becomes a nack with
a reason code. A transport duplicate (the same bytes again: same `message_id`, same signature) gets
the cached reply without touching the agent; a business duplicate (same `transaction_id`) is the
agent's to answer from its stored result.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from hub_sync.device.ports import CommandSink
from hub_sync.errors import WireError
from hub_sync.protocol.commands import (
    Command,
    CommandEnvelope,
    CommandResult,
    TrustUpdate,
    args_digest,
    decode_command,
    parse_args,
)
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.reply_sig import ReplyKey, sign_reply
from hub_sync.protocol.signing import CommandVerifier
from hub_sync.protocol.strict_json import get, loads_strict
from hub_sync.protocol.wire import Header, Reply, decode, new_message_id

_LOG = logging.getLogger(__name__)
_REPLY_CACHE = 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    """A reply to send, and whether it counts as ok for the stats."""

    reply: Reply
    ok: bool
    duplicate: bool = False


class CommandHandler:
    """Turns one command payload into exactly one reply; never raises."""

    def __init__(
        self,
        *,
        fleet: str,
        device: str,
        sink: CommandSink,
        verifier: CommandVerifier,
        clock: Callable[[], float],
        refusals: RefusalLog,
        reply_key: ReplyKey | None = None,
    ) -> None:
        """`reply_key`: the device key that signs every reply (docs/protocol.md, "Replies are
        signed"); hubs drop a reply without a valid signature, so only tests leave it out."""
        self._fleet = fleet
        self._device = device
        self._sink = sink
        self._verifier = verifier
        self._clock = clock
        self._refusals = refusals
        self._reply_key = reply_key
        #: message id -> (SHA-256 of the payload, the reply it got)
        self._replies: OrderedDict[str, tuple[bytes, Outcome]] = OrderedDict()

    async def handle(self, payload: bytes) -> Outcome:
        """Decode, verify and apply one command payload; the reply to send.

        A payload that does not decode is refused with its reason; the same payload seen recently
        gets its first reply again (marked `duplicate`) without applying the command twice.

        A duplicate is the same bytes, not only the same `message_id`: the envelope is not
        signed, so anyone on the broker could send junk under the id of a hub command it saw
        (or held back) and have the hub's own re-send answered with the junk's cached nack."""
        try:
            env = decode_command(payload)
        except WireError as err:
            tx, mid = _best_effort_ids(payload)
            self._refusals.refused("cmd", err.reason)
            return self._outcome(tx, mid, CommandResult(ok=False, reason=err.reason))
        digest = hashlib.sha256(payload).digest()
        cached = self._replies.get(env.header.message_id)
        if cached is not None and cached[0] == digest:
            first = cached[1]
            return Outcome(reply=first.reply, ok=first.ok, duplicate=True)
        result = await self._apply(env)
        outcome = self._outcome(env.transaction_id, env.header.message_id, result)
        self._replies[env.header.message_id] = (digest, outcome)
        self._replies.move_to_end(env.header.message_id)
        while len(self._replies) > _REPLY_CACHE:
            self._replies.popitem(last=False)
        return outcome

    async def _apply(self, env: CommandEnvelope) -> CommandResult:
        try:
            command = self._validate(env)
        except WireError as err:
            self._refusals.refused("cmd", err.reason, env.name[:64])
            return CommandResult(ok=False, reason=err.reason, detail=err.detail[:200])
        try:
            return await self._sink.apply(command)
        except Exception:
            _LOG.exception("applying command %s failed", command.name)
            return CommandResult(ok=False, reason="INTERNAL")

    def _validate(self, env: CommandEnvelope) -> Command:
        if env.header.fleet != self._fleet or env.header.device != self._device:
            raise WireError("WRONG_DEVICE")
        args = parse_args(env.name, env.args)
        # every command changes state, so every command is hub-signed (docs/protocol.md)
        self._verifier.verify(env, fleet=self._fleet, device=self._device)
        return Command(
            message_id=env.header.message_id,
            transaction_id=env.transaction_id,
            name=env.name,
            args=args,
            issued_at=env.header.sent_at,
            signed=True,
            args_digest=args_digest(env.name, env.args),
        )

    def _outcome(self, tx: str, mid: str, result: CommandResult) -> Outcome:
        header = Header(
            type="reply",
            message_id=new_message_id(),
            fleet=self._fleet,
            device=self._device,
            sent_at=self._clock(),
        )
        reply = Reply(
            header=header,
            transaction_id=tx,
            command_message_id=mid,
            ok=result.ok,
            reason=result.reason,
            detail=result.detail,
            result=result.data,
        )
        if self._reply_key is not None:
            reply = replace(reply, sig=sign_reply(self._reply_key(), reply))
        return Outcome(reply=reply, ok=result.ok)

    async def trust_bundle(self, payload: bytes) -> None:
        """A retained fleet trust bundle, applied as `trust.update`. Not hub-signed: the bundle is
        signed by the fleet's roots and the agent checks that and rollback. Raises `WireError`
        for a malformed message or a bundle the agent refused."""
        header, args = _parse_trust(payload)
        raw = {"bundle": args.bundle, "version": args.version}
        digest = args_digest("trust.update", raw)
        command = Command(
            message_id=header.message_id,
            # keyed by the bundle's bytes: a forged bundle cannot take a later version's place
            transaction_id=f"trust-{digest[:32]}",
            name="trust.update",
            args=args,
            issued_at=self._clock(),
            signed=False,
            args_digest=digest,
        )
        result = await self._sink.apply(command)
        if not result.ok:
            raise WireError(result.reason or "REFUSED", f"trust bundle {args.version}")
        _LOG.info("trust bundle %s installed", args.version)


def _parse_trust(payload: bytes) -> tuple[Header, TrustUpdate]:
    header, obj = decode(payload, "trust")
    bundle = get(obj, "bundle", str)
    version = get(obj, "version", int)
    if not bundle or len(bundle) > 512_000 or version <= 0:
        raise WireError("MALFORMED", "bundle or version out of range")
    return header, TrustUpdate(bundle=bundle, version=version)


def _best_effort_ids(payload: bytes) -> tuple[str, str]:
    """Ids to address a nack to, read from a message that failed validation."""
    try:
        obj = loads_strict(payload)
    except WireError:
        return "", ""
    tx = obj.get("transaction_id")
    mid = obj.get("message_id")
    return (tx[:128] if isinstance(tx, str) else ""), (mid[:64] if isinstance(mid, str) else "")
