"""A wallet proves an order's age at an unattended locker (issue 15 item 4).

The customer's own code or token names the order (an order id is no secret); the wallet adds
the ID check. Flow: code/token -> the order and the customer's policy-table row -> the wallet's
QR device engagement -> `WalletLink.connect` -> `prove_age` (only `age_over_NN`, and the names
when the order carries a recipient digest) verified offline against the configured IACA roots
-> ONE transaction: the outcome record (`identity.checked`), the policy table with
`VERIFIED_IDENTITY`, and the same atomic collect as every pickup -> the door. A refused check
is recorded too (outcome only), and nothing personal is kept, logged or sent.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config.model import IdentityConfig
from agent.domain.clock import Clock
from agent.domain.labels import support_ref
from agent.domain.orders import Order
from agent.domain.policy import (
    Attempt,
    Credential,
    Setting,
    flags_of,
    pickup_refusal,
    with_verified_identity,
)
from agent.errors import AgentError, ConfigError, PickupRefused, RequestError
from agent.identity import IacaTrustList, MdocError, MdocPolicy
from agent.identity.errors import WalletUnreachable
from agent.identity.names import MIN_SALT_BYTES, NameCheck
from agent.identity.proximity import (
    AgeRequirement,
    MdocTransport,
    ReaderSession,
    WalletLink,
    prove_age,
)
from agent.identity.record import IdentityRecord, mdoc_record
from agent.identity.transcript import engagement_from_qr
from agent.reasons import Reason
from agent.services.attempts import AttemptGate
from agent.services.pickup import (
    PickupGrant,
    PickupResult,
    PickupService,
    authorise_collect,
    refuse,
)
from agent.services.token_pickup import TokenPickupService, token_attempt
from agent.store import journal
from agent.store.db import Database
from agent.store.orders import find_order_by_code_key, get_order, withdrawal_of
from agent.tokens.typed_codes import CodeKeys

_LOG = logging.getLogger(__name__)

VERIFIED_AT_DOOR = Attempt(Credential.VERIFIED_IDENTITY, Setting.UNATTENDED)
_TYPED_AT_DOOR = Attempt(Credential.TYPED_CODE, Setting.UNATTENDED)


def identity_policy(policy: Mapping[str, object]) -> dict[str, Any]:
    """`min_age` and the recipient digest of an `order.upsert` policy, as `OrderPolicy` fields.

    `min_age`: an integer 0..99. `recipient_digest` (64 hex digits) and `recipient_salt` (at
    least 32 hex digits) come together. Anything else is `BAD_REQUEST`."""
    fields: dict[str, Any] = {}
    min_age = policy.get("min_age")
    if min_age is not None:
        if isinstance(min_age, bool) or not isinstance(min_age, int) or not 0 <= min_age <= 99:
            raise RequestError("policy.min_age must be an integer 0..99")
        fields["min_age"] = min_age
    digest, salt = policy.get("recipient_digest"), policy.get("recipient_salt")
    if digest is None and salt is None:
        return fields
    if not isinstance(digest, str) or not isinstance(salt, str):
        raise RequestError("policy.recipient_digest and recipient_salt go together")
    try:
        check = NameCheck(bytes.fromhex(str(salt)), bytes.fromhex(str(digest)))
    except ValueError:
        raise RequestError(
            "policy.recipient_digest (64 hex digits) and recipient_salt"
            f" ({2 * MIN_SALT_BYTES}+ hex digits) go together"
        ) from None
    fields.update(recipient_salt=check.salt, recipient_digest=check.digest)
    return fields


def age_requirement(order: Order, doctype: str) -> AgeRequirement | None:
    """What the wallet must prove for `order`; None when the order names no age."""
    policy = order.policy
    if policy.min_age is None:
        return None
    recipient = None
    if policy.recipient_salt is not None and policy.recipient_digest is not None:
        recipient = NameCheck(policy.recipient_salt, policy.recipient_digest)
    return AgeRequirement(policy.min_age, doctype, recipient)


@dataclass(frozen=True, slots=True)
class WalletSettings:
    """The `[identity]` configuration, read: trust is None when no IACA is configured."""

    trust: IacaTrustList | None
    doctype: str
    timeout_s: float


def load_iaca(paths: tuple[Path, ...]) -> IacaTrustList | None:
    """The IACA roots of `[identity] iaca` (blocking: run off the loop); ConfigError if a file
    cannot be read or holds no PEM certificate. A folder gives its *.pem and *.crt files."""
    if not paths:
        return None
    blobs: list[bytes] = []
    for path in paths:
        try:
            files = [path]
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix in {".pem", ".crt"})
            blobs.extend(p.read_bytes() for p in files)
        except OSError as err:
            raise ConfigError(f"identity.iaca: cannot read {path}: {err.strerror}") from None
    try:
        return IacaTrustList.from_pem(blobs)
    except ValueError as err:
        raise ConfigError(f"identity.iaca: no PEM certificate read ({err})") from None


def ble_wallet_link(config: IdentityConfig) -> WalletLink | None:
    """The configured real wallet link: BLE with bleak on BlueZ, or none."""
    if config.wallet_link != "ble":
        return None
    # imported here: bleak (and D-Bus) only on a locker configured for BLE
    from agent.identity.ble import BleWalletLink
    from agent.identity.ble_bleak import BleakCentral

    return BleWalletLink(BleakCentral(config.ble_adapter))


async def wallet_settings(config: IdentityConfig) -> WalletSettings:
    """The `[identity]` section read (the IACA files off the loop)."""
    trust = await asyncio.to_thread(load_iaca, config.iaca)
    return WalletSettings(trust, config.doctype, config.session_timeout_s)


@dataclass(frozen=True, slots=True)
class _Claim:
    """The order a customer's own credential names, with that credential's table row."""

    order_id: str
    attempt: Attempt
    cti: bytes | None = None


def _order_of_code_key(conn: sqlite3.Connection, code_key: CodeKeys) -> str:
    order = find_order_by_code_key(conn, code_key)
    if order is None:
        raise PickupRefused(reason=Reason.CODE_UNKNOWN)
    return order.order_id


def _record_check(
    conn: sqlite3.Connection, order_id: str, record: IdentityRecord, now: float
) -> None:
    body = {"order": order_id, **record.as_dict()}
    journal.record(conn, "identity.checked", body, now=now, actor="wallet", order_id=order_id)


def _precheck(conn: sqlite3.Connection, claim: _Claim, now: float) -> Order:
    """Before bothering the wallet: is the order there, collectable, and the customer's row ok?"""
    order = get_order(conn, claim.order_id)
    if order is None:
        raise PickupRefused(reason=Reason.ORDER_UNKNOWN)
    withdrawn = withdrawal_of(conn, order)
    refuse(pickup_refusal(order, VERIFIED_AT_DOOR, now=now, withdrawn=withdrawn), order.order_id)
    refuse(with_verified_identity(flags_of(order.policy), claim.attempt), order.order_id)
    return order


def _authorise(
    conn: sqlite3.Connection, claim: _Claim, record: IdentityRecord, now: float
) -> PickupGrant:
    """One transaction: the outcome record and the collect (both or neither)."""
    order = _precheck(conn, claim, now)
    _record_check(conn, order.order_id, record, now)
    return authorise_collect(
        conn, order, via="wallet", now=now, attempt=VERIFIED_AT_DOOR, cti=claim.cti
    )


class WalletPickupService:
    """Pickups of age-restricted orders: the customer's code or token plus a verified wallet."""

    def __init__(
        self,
        db: Database,
        pickup: PickupService,
        tokens: TokenPickupService,
        clock: Clock,
        settings: WalletSettings,
        *,
        time_floor: Callable[[], float],
        link: WalletLink | None,
        typed_code_key: Callable[[str], CodeKeys],
        attempts: AttemptGate,
    ) -> None:
        self._db = db
        self._pickup = pickup
        self._tokens = tokens
        self._clock = clock
        self._settings = settings
        self._time_floor = time_floor
        self._link = link
        self._typed_code_key = typed_code_key
        self._attempts = attempts

    @property
    def available(self) -> bool:
        """Whether a wallet can be checked here: a wallet link and IACA roots."""
        return self._link is not None and self._settings.trust is not None

    async def collect(
        self, *, code: str | None, payload: str | None, engagement: str
    ) -> PickupResult:
        """Open the door of the order `code` or `payload` names once the wallet whose QR
        engagement is `engagement` proved the order's age (and recipient)."""
        claim = await self._claim(code, payload)
        device_engagement = engagement_from_qr(engagement)
        if self._link is None or self._settings.trust is None:
            raise WalletUnreachable("this locker has no wallet reader")
        order = await self._db.read(_precheck, claim, self._clock.now())
        self._requirement(order)
        transport = await self._link.connect(device_engagement)
        return await self._collect(claim, transport)

    async def _claim(self, code: str | None, payload: str | None) -> _Claim:
        if (code is None) == (payload is None):
            raise RequestError("give the order's code or its token")
        if payload is not None:
            token = self._tokens.verify(payload)
            return _Claim(token.order_ref, token_attempt(token), token.cti)
        assert code is not None  # noqa: S101 - one of the two, checked above
        return _Claim(await self._order_of_code(code), _TYPED_AT_DOOR)

    async def _order_of_code(self, code: str) -> str:
        """The order of a typed code, behind the locker's one typed-code attempt budget."""
        try:
            key = self._typed_code_key(code)
        except AgentError:  # a malformed code is no guess and costs nothing
            raise PickupRefused(reason=Reason.CODE_UNKNOWN) from None
        return await self._attempts.run("wallet", _order_of_code_key, key)

    def _requirement(self, order: Order) -> tuple[AgeRequirement, IacaTrustList]:
        need = age_requirement(order, self._settings.doctype)
        if self._settings.trust is None:
            raise WalletUnreachable("this locker has no IACA trust list")
        if need is None:
            raise PickupRefused("the order needs no wallet", reason=Reason.BAD_REQUEST)
        return need, self._settings.trust

    async def _collect(self, claim: _Claim, transport: MdocTransport) -> PickupResult:
        try:
            order = await self._db.read(_precheck, claim, self._clock.now())
            need, trust = self._requirement(order)
        except AgentError:
            await transport.close(ReaderSession.termination())
            raise
        checked = need.recipient is not None
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                outcome = await prove_age(
                    transport,
                    need,
                    MdocPolicy(trust, frozenset({need.doctype}), self._time_floor()),
                    now=self._clock.now(),
                )
        except MdocError as err:
            record = mdoc_record(
                None, reason=err.code.value, min_age=need.min_age, recipient_checked=checked
            )
            await self._db.run(_record_check, claim.order_id, record, self._clock.now())
            _LOG.info("wallet check refused for order %s: %s", claim.order_id, err.code.value)
            ref = support_ref(claim.order_id)
            raise PickupRefused(err.code.value, reason=err.reason, ref=ref) from None
        except (TimeoutError, OSError) as err:
            _LOG.warning("wallet link failed for order %s: %s", claim.order_id, type(err).__name__)
            raise WalletUnreachable("the wallet did not answer") from None
        record = mdoc_record(outcome, reason=None, min_age=need.min_age, recipient_checked=checked)
        grant = await self._db.run(_authorise, claim, record, self._clock.now())
        _LOG.info("wallet proved age %s for order %s", need.min_age, claim.order_id)
        return await self._pickup.open_granted(grant)
