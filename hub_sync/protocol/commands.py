"""Hub-to-device commands: wire schemas, strict validation into frozen dataclasses, results.

A command is parsed completely before anything acts on it; a malformed or unknown command becomes a
`WireError` whose `reason` goes back to the hub in a nack. The agent applies the typed `args`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hub_sync.errors import WireError
from hub_sync.protocol.strict_json import canonical_json, get
from hub_sync.protocol.wire import Header, decode, encode

Scalar = str | int | bool | None
#: reply reason: a `transaction_id` already used for another command name or other args
TRANSACTION_REUSED: Final = "TRANSACTION_REUSED"
#: the longest pickup window or extension a hub may grant in one command (30 days)
MAX_HOLD_S: Final = 30 * 86_400


#: The one typed-code scheme: `digest` = lower-case hex of HMAC-SHA256(the device's typed-code
#: key, the normalised code) (docs/protocol.md, "Typed-code material").
CODE_SCHEME: Final = "hmac-sha256"
_CODE_FIELDS: Final = frozenset({"scheme", "digest"})
_HEX: Final = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class CodeMaterial:
    """Typed-code material: the device stores and compares only a keyed digest, never the code."""

    scheme: str
    digest: str


@dataclass(frozen=True, slots=True)
class OrderUpsert:
    """Announce an order or replace its terms. `hold_s` is the pickup window in seconds."""

    order_id: str
    size: str
    hold_s: int
    policy: Mapping[str, Scalar]
    code: CodeMaterial | None


@dataclass(frozen=True, slots=True)
class OrderCancel:
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderExtend:
    order_id: str
    extend_s: int


@dataclass(frozen=True, slots=True)
class OrderRedirect:
    """Give the order up here: the hub re-announces it at another locker (`destination`, for the
    record only). A loaded parcel waits for a courier; an unloaded order is dropped."""

    order_id: str
    reason: str
    destination: str | None


@dataclass(frozen=True, slots=True)
class ReturnExpect:
    """Announce a customer return so its typed return code works offline at this locker."""

    order_ref: str
    size: str
    code: CodeMaterial | None


@dataclass(frozen=True, slots=True)
class ReturnDecision:
    """The hub's decision on an expired order: `return_to_sender`, or `keep` for `hold_s` more."""

    order_id: str
    decision: str
    hold_s: int | None


@dataclass(frozen=True, slots=True)
class TrustUpdate:
    """A new trust bundle (opaque here: the agent verifies its own signature and rollback rules)."""

    bundle: str
    version: int


@dataclass(frozen=True, slots=True)
class Revocation:
    """Revoked token ids (`cti`, hex) and key ids (`kid`, hex)."""

    ctis: tuple[str, ...]
    kids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """Configuration keys (dotted paths) and new scalar values; the agent validates them."""

    changes: Mapping[str, Scalar]


@dataclass(frozen=True, slots=True)
class RemoteOpen:
    """Open one door on the hub's word. Always hub-signed (see docs/protocol.md, "Signatures")."""

    door: int
    order_id: str | None
    reason: str


CommandArgs = (
    OrderUpsert
    | OrderCancel
    | OrderExtend
    | OrderRedirect
    | ReturnExpect
    | ReturnDecision
    | TrustUpdate
    | Revocation
    | ConfigChange
    | RemoteOpen
)


@dataclass(frozen=True, slots=True)
class Command:
    """A validated command. `transaction_id` is the business idempotency key."""

    message_id: str
    transaction_id: str
    name: str
    args: CommandArgs
    issued_at: float
    signed: bool
    #: `args_digest(name, args)`: binds an idempotency key to what it was first used for
    args_digest: str = ""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What the agent answers: `ok` with `data`, or a refusal with a reason code."""

    ok: bool
    reason: str | None = None
    detail: str = ""
    data: Mapping[str, object] = field(default_factory=dict)


def _s(obj: Mapping[str, Any], key: str, max_len: int = 128) -> str:
    value: str = get(obj, key, str)
    if not value or len(value) > max_len:
        raise WireError("MALFORMED", f"{key} must be 1..{max_len} characters")
    return value


def _pos(obj: Mapping[str, Any], key: str, maximum: int = 10**9) -> int:
    value: int = get(obj, key, int)
    if value <= 0 or value > maximum:
        raise WireError("MALFORMED", f"{key} must be an integer in 1..{maximum}")
    return value


def _code(a: Mapping[str, Any]) -> CodeMaterial | None:
    code_raw = get(a, "code", dict, optional=True)
    return None if code_raw is None else _code_material(code_raw)


def _scalars(obj: Mapping[str, Any], key: str) -> dict[str, Scalar]:
    raw: dict[str, Any] = get(obj, key, dict, optional=True) or {}
    for k, v in raw.items():
        if not isinstance(v, str | int | bool) and v is not None:
            raise WireError("MALFORMED", f"{key}.{k} must be a scalar")
        if isinstance(v, float):
            raise WireError("MALFORMED", f"{key}.{k} must not be a float")
    return dict(raw)


def _order_upsert(a: Mapping[str, Any]) -> OrderUpsert:
    code = _code(a)
    return OrderUpsert(
        order_id=_s(a, "order_id"),
        size=_s(a, "size", 8),
        hold_s=_pos(a, "hold_s", MAX_HOLD_S),
        policy=_scalars(a, "policy"),
        code=code,
    )


def _code_material(raw: Mapping[str, Any]) -> CodeMaterial:
    unknown = sorted(set(raw) - _CODE_FIELDS)
    if unknown:
        raise WireError("MALFORMED", f"code has unknown fields: {', '.join(unknown)[:64]}")
    scheme, digest = _s(raw, "scheme", 32), _s(raw, "digest", 64)
    if scheme != CODE_SCHEME:
        raise WireError("MALFORMED", f"code.scheme must be {CODE_SCHEME}")
    digest = digest.lower()  # some languages print hex in upper case: same bytes
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise WireError("MALFORMED", "code.digest must be 64 hex digits")
    return CodeMaterial(scheme, digest)


def _return_decision(a: Mapping[str, Any]) -> ReturnDecision:
    decision = _s(a, "decision", 32)
    if decision not in ("return_to_sender", "keep"):
        raise WireError("MALFORMED", "decision must be return_to_sender or keep")
    hold = get(a, "hold_s", int, optional=True)
    if decision == "keep" and (hold is None or not 0 < hold <= MAX_HOLD_S):
        raise WireError("MALFORMED", f"keep needs a hold_s in 1..{MAX_HOLD_S}")
    return ReturnDecision(order_id=_s(a, "order_id"), decision=decision, hold_s=hold)


def _ids(a: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw: list[Any] = get(a, key, list, optional=True) or []
    if len(raw) > 10_000 or not all(isinstance(x, str) and 0 < len(x) <= 128 for x in raw):
        raise WireError("MALFORMED", f"{key} must be a list of short strings")
    return tuple(raw)


def _remote_open(a: Mapping[str, Any]) -> RemoteOpen:
    door = get(a, "door", int)
    if door < 1:
        raise WireError("MALFORMED", "door must be >= 1")
    order = get(a, "order_id", str, optional=True)
    return RemoteOpen(door=door, order_id=order, reason=_s(a, "reason", 200))


def _redirect(a: Mapping[str, Any]) -> OrderRedirect:
    destination = get(a, "destination", str, optional=True)
    if destination is not None and not 0 < len(destination) <= 64:
        raise WireError("MALFORMED", "destination must be 1..64 characters")
    return OrderRedirect(_s(a, "order_id"), _s(a, "reason", 200), destination)


def _return_expect(a: Mapping[str, Any]) -> ReturnExpect:
    return ReturnExpect(order_ref=_s(a, "order_ref", 64), size=_s(a, "size", 8), code=_code(a))


DEFAULT_MAX_TTL_S: Final = 30 * 86_400  # how far ahead a command's signature may expire


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One hub command, declared once: its args type, the parser that builds it from the wire,
    and its signing policy (every command is hub-signed; `max_ttl_s` caps `exp - now`)."""

    args_type: type[CommandArgs]
    parse: Callable[[Mapping[str, Any]], CommandArgs]
    max_ttl_s: int = DEFAULT_MAX_TTL_S


# The registry: a new command is its args dataclass above and one line here (the agent's handler
# is one line in agent/services/hub_link.py; docs/contributing.md).
COMMANDS: Final[Mapping[str, CommandSpec]] = {
    "order.upsert": CommandSpec(OrderUpsert, _order_upsert),
    "order.cancel": CommandSpec(
        OrderCancel, lambda a: OrderCancel(_s(a, "order_id"), _s(a, "reason", 200))
    ),
    "order.extend": CommandSpec(
        OrderExtend, lambda a: OrderExtend(_s(a, "order_id"), _pos(a, "extend_s", MAX_HOLD_S))
    ),
    "order.redirect": CommandSpec(OrderRedirect, _redirect),
    "return.expect": CommandSpec(ReturnExpect, _return_expect),
    "order.return_decision": CommandSpec(ReturnDecision, _return_decision),
    "trust.update": CommandSpec(
        TrustUpdate, lambda a: TrustUpdate(_s(a, "bundle", 512_000), _pos(a, "version"))
    ),
    "trust.revoke": CommandSpec(Revocation, lambda a: Revocation(_ids(a, "ctis"), _ids(a, "kids"))),
    "config.set": CommandSpec(ConfigChange, lambda a: ConfigChange(_scalars(a, "changes"))),
    "door.open": CommandSpec(RemoteOpen, _remote_open, max_ttl_s=300),
}

COMMAND_NAMES: Final = frozenset(COMMANDS)


def args_digest(name: str, args: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a command's name and raw args: what its
    `transaction_id` was first used for (a reuse with other args is refused, not answered)."""
    return hashlib.sha256(canonical_json({"name": name, "args": dict(args)})).hexdigest()


def parse_args(name: str, args: Mapping[str, Any]) -> CommandArgs:
    spec = COMMANDS.get(name)
    if spec is None:
        raise WireError("UNKNOWN_COMMAND", name[:64])
    return spec.parse(args)


@dataclass(frozen=True, slots=True)
class CommandEnvelope:
    """A command as it travels: header, name, raw args (what is signed) and optional signature."""

    header: Header
    transaction_id: str
    name: str
    args: Mapping[str, Any]
    sig: Mapping[str, Any] | None


def encode_command(env: CommandEnvelope) -> bytes:
    fields: dict[str, object] = {
        "transaction_id": env.transaction_id,
        "name": env.name,
        "args": dict(env.args),
    }
    if env.sig is not None:
        fields["sig"] = dict(env.sig)
    return encode(env.header, fields)


def decode_command(payload: bytes) -> CommandEnvelope:
    header, obj = decode(payload, "command")
    return CommandEnvelope(
        header=header,
        transaction_id=_s(obj, "transaction_id"),
        name=_s(obj, "name", 64),
        args=get(obj, "args", dict),
        sig=get(obj, "sig", dict, optional=True),
    )
