"""Wire format: topics, the JSON envelope and the frozen types that cross the MQTT boundary.

Everything read from the broker becomes one of these types at once; nothing else in the package
looks at raw payloads. Decoding is strict (`strict_json`: duplicate keys, NaN, wrong types; here:
unknown versions) and refused with a `WireError`, because a hub and many devices of different
versions share the wire.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hub_sync.errors import WireError
from hub_sync.protocol.strict_json import canonical_json, get, loads_strict

SCHEMA_VERSION: Final = 1
TOPIC_ROOT: Final = "lk/v1"
_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_id(value: str, what: str) -> str:
    """Fleet and device ids become topic levels, so they may not hold `/`, `+`, `#` or spaces."""
    if not _ID_RE.match(value):
        raise WireError("BAD_ID", f"{what} must match [A-Za-z0-9_-]{{1,64}}")
    return value


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one device in one fleet (see docs/protocol.md for direction and QoS)."""

    fleet: str
    device: str

    def _t(self, leaf: str) -> str:
        return f"{TOPIC_ROOT}/{self.fleet}/{self.device}/{leaf}"

    @property
    def events(self) -> str:
        """Device -> hub: outbox event batches."""
        return self._t("evt")

    @property
    def confirm(self) -> str:
        """Hub -> device: confirms of stored events."""
        return self._t("confirm")

    @property
    def command(self) -> str:
        """Hub -> device: commands."""
        return self._t("cmd")

    @property
    def reply(self) -> str:
        """Device -> hub: command replies."""
        return self._t("reply")

    @property
    def state(self) -> str:
        """Device -> hub, retained: the state snapshot."""
        return self._t("state")

    @property
    def status(self) -> str:
        """Device -> hub, retained: online/offline (also the Last Will)."""
        return self._t("status")

    @property
    def photo(self) -> str:
        """Device -> hub: one chunk of an evidence photo (docs/evidence.md, "Upload")."""
        return self._t("photo")

    @property
    def photo_ack(self) -> str:
        """Hub -> device: the hub-signed acknowledgement of a photo chunk."""
        return self._t("photo_ack")

    @property
    def trust(self) -> str:
        """The fleet's retained trust bundle topic."""
        return trust_topic(self.fleet)

    @property
    def hub(self) -> str:
        """The hub's retained online/offline status topic."""
        return hub_topic(self.fleet)


def hub_topic(fleet: str) -> str:
    """The hub's retained online/offline status (hub writes with a Last Will, devices read)."""
    return f"{TOPIC_ROOT}/{fleet}/hub"


def trust_topic(fleet: str) -> str:
    """The fleet-wide retained trust bundle topic (hub writes, every device reads)."""
    return f"{TOPIC_ROOT}/{fleet}/trust"


def fleet_filter(fleet: str, leaf: str) -> str:
    """The hub's subscription filter for one leaf of every device of a fleet."""
    return f"{TOPIC_ROOT}/{fleet}/+/{leaf}"


def split_topic(topic: str) -> tuple[str, str, str]:
    """(fleet, device, leaf) of a device topic; raises `WireError` for any other topic."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise WireError("BAD_TOPIC", topic)
    return parts[2], parts[3], parts[4]


def new_message_id() -> str:
    """A new message id (a random UUID as 32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Header:
    """The envelope fields every message carries (docs/protocol.md, "Envelope")."""

    type: str
    message_id: str
    fleet: str
    device: str
    sent_at: float
    time_floor: float | None = None
    v: int = SCHEMA_VERSION

    def as_dict(self) -> dict[str, object]:
        """The envelope fields as JSON-able values (`time_floor` only when set)."""
        out: dict[str, object] = {
            "v": self.v,
            "type": self.type,
            "message_id": self.message_id,
            "fleet": self.fleet,
            "device": self.device,
            "sent_at": self.sent_at,
        }
        if self.time_floor is not None:
            out["time_floor"] = self.time_floor
        return out


def decode(payload: bytes, expected_type: str) -> tuple[Header, Mapping[str, Any]]:
    """Parse and check the envelope; the caller reads the type-specific fields from the mapping."""
    obj = loads_strict(payload)
    version = get(obj, "v", int)
    if version != SCHEMA_VERSION:
        raise WireError("UNSUPPORTED_VERSION", str(version))
    kind = get(obj, "type", str)
    if kind != expected_type:
        raise WireError("UNKNOWN_TYPE", kind[:32])
    header = Header(
        type=kind,
        message_id=get(obj, "message_id", str)[:64],
        fleet=get(obj, "fleet", str),
        device=get(obj, "device", str),
        sent_at=float(get(obj, "sent_at", (int, float))),
        time_floor=_opt_float(get(obj, "time_floor", (int, float), optional=True)),
    )
    return header, obj


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def encode(header: Header, fields: Mapping[str, object]) -> bytes:
    """A message as canonical JSON: the envelope fields and the type's own `fields`."""
    return canonical_json({**header.as_dict(), **fields})


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One committed outbox row: `seq` is the device's gapless sequence number."""

    seq: int
    kind: str
    transaction_id: str
    body: Mapping[str, object]
    created_at: float

    def as_dict(self) -> dict[str, object]:
        """The event as it goes into an events message."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "transaction_id": self.transaction_id,
            "body": dict(self.body),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> OutboxEvent:
        """An event of an events message; `WireError` if a field is missing, mistyped or seq < 1."""
        seq = get(obj, "seq", int)
        if seq < 1:
            raise WireError("MALFORMED", "seq must be >= 1")
        return cls(
            seq=seq,
            kind=get(obj, "kind", str),
            transaction_id=get(obj, "transaction_id", str),
            body=get(obj, "body", dict),
            created_at=float(get(obj, "created_at", (int, float))),
        )


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """How many rows the outbox holds, and when the oldest was made (None when empty)."""

    depth: int
    oldest_created_at: float | None


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events in consecutive seq order; `base` is the seq the device believes is confirmed.

    `sig` is the device key's signature (`hub_sync.protocol.event_sig`): a hub stores a batch
    only when it verifies, so whoever can publish on the broker cannot add events for a locker.
    """

    header: Header
    base: int
    events: tuple[OutboxEvent, ...]
    sig: Mapping[str, Any] | None = None


def encode_events(
    header: Header,
    base: int,
    events: Sequence[OutboxEvent],
    sig: Mapping[str, Any] | None = None,
) -> bytes:
    """An events message: `events` after the confirmed `base` (with its signature when signed)."""
    fields: dict[str, object] = {"base": base, "events": [e.as_dict() for e in events]}
    if sig is not None:
        fields["sig"] = dict(sig)
    return encode(header, fields)


def decode_events(payload: bytes) -> EventBatch:
    """The events message in `payload` (signature not checked here); `WireError` if it is
    malformed or its seqs have a gap."""
    header, obj = decode(payload, "events")
    raw = get(obj, "events", list)
    events = tuple(OutboxEvent.from_dict(_as_obj(item)) for item in raw)
    for prev, nxt in itertools.pairwise(events):
        if nxt.seq != prev.seq + 1:
            raise WireError("MALFORMED", "events are not consecutive")
    return EventBatch(
        header=header,
        base=get(obj, "base", int),
        events=events,
        sig=get(obj, "sig", dict, optional=True),
    )


def _as_obj(item: object) -> Mapping[str, Any]:
    if not isinstance(item, dict):
        raise WireError("MALFORMED", "expected an object")
    return item


@dataclass(frozen=True, slots=True)
class Confirm:
    """The hub's application-level ack: it has stored every event with seq <= `through_seq`.

    `in_reply_to` is the `message_id` of the events message that prompted it: a device accepts
    only confirms of messages it sent in its current connection session, for no more than it sent
    in it, and only with a valid hub signature `sig` (docs/protocol.md, "Confirms are signed"):
    whoever can publish on the broker can also read what the device sent, so only the hub's key
    can say "the hub stored it".
    """

    header: Header
    through_seq: int
    in_reply_to: str
    sig: Mapping[str, Any] | None = None


def encode_confirm(confirm: Confirm) -> bytes:
    """A confirm as its JSON payload (with its signature when signed)."""
    fields: dict[str, object] = {
        "through_seq": confirm.through_seq,
        "in_reply_to": confirm.in_reply_to,
    }
    if confirm.sig is not None:
        fields["sig"] = dict(confirm.sig)
    return encode(confirm.header, fields)


def decode_confirm(payload: bytes) -> Confirm:
    """The confirm in `payload` (signature not checked here); `WireError` if malformed."""
    header, obj = decode(payload, "confirm")
    through: int = get(obj, "through_seq", int)
    if through < 0:
        raise WireError("MALFORMED", "through_seq must be >= 0")
    return Confirm(
        header=header,
        through_seq=through,
        in_reply_to=get(obj, "in_reply_to", str)[:64],
        sig=get(obj, "sig", dict, optional=True),
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """A device's answer to one command: an ack (`ok`) with `result`, or a nack with `reason`.

    `sig` is the device key's signature (`hub_sync.protocol.reply_sig`): a hub takes a reply only
    when it verifies, so whoever can publish on the broker cannot answer for the device.
    """

    header: Header
    transaction_id: str
    command_message_id: str
    ok: bool
    reason: str | None
    detail: str
    result: Mapping[str, object] = field(default_factory=dict)
    sig: Mapping[str, Any] | None = None


def encode_reply(reply: Reply) -> bytes:
    """A reply as its JSON payload (`detail` cut to 200 characters; with its signature)."""
    fields: dict[str, object] = {
        "transaction_id": reply.transaction_id,
        "command_message_id": reply.command_message_id,
        "ok": reply.ok,
        "reason": reply.reason,
        "detail": reply.detail[:200],
        "result": dict(reply.result),
    }
    if reply.sig is not None:
        fields["sig"] = dict(reply.sig)
    return encode(reply.header, fields)


def decode_reply(payload: bytes) -> Reply:
    """The reply in `payload` (signature not checked here); `WireError` if malformed."""
    header, obj = decode(payload, "reply")
    return Reply(
        header=header,
        transaction_id=get(obj, "transaction_id", str),
        command_message_id=get(obj, "command_message_id", str),
        ok=get(obj, "ok", bool),
        reason=get(obj, "reason", str, optional=True),
        detail=get(obj, "detail", str, optional=True) or "",
        result=get(obj, "result", dict, optional=True) or {},
        sig=get(obj, "sig", dict, optional=True),
    )


@dataclass(frozen=True, slots=True)
class Status:
    """Retained online/offline status; the offline form is also the connection's Last Will."""

    header: Header
    online: bool
    alarm: str | None = None


def encode_status(status: Status) -> bytes:
    """A status as its JSON payload."""
    return encode(status.header, {"online": status.online, "alarm": status.alarm})


def decode_status(payload: bytes) -> Status:
    """The status in `payload`; `WireError` if malformed."""
    header, obj = decode(payload, "status")
    return Status(
        header=header,
        online=get(obj, "online", bool),
        alarm=get(obj, "alarm", str, optional=True),
    )
