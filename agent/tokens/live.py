"""Holder-bound live codes (the UIC DOSIPAS pattern).

The hub-signed token carries the phone's P-256 public key (`cnf`). The app shows a live code,
refreshed every ~15 s:

    "LK1L:" + Base45( CBOR [ token: bstr (the COSE_Sign1), t: uint (POSIX seconds), sig: bstr ] )

where `sig` is ES256 (raw r||s) by the holder key over the deterministic CBOR of
`["LK1L", t, SHA-256(token)]`. The locker accepts `|now - t| <= window` and refuses a frame it has
already seen (same `cti` and `t`), whatever its signature bytes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from agent.reasons import Reason
from agent.tokens import codec
from agent.tokens.claims import MAX_TIME
from agent.tokens.errors import TokenError
from agent.tokens.keys import Alg, p256_from_point, sign, verify_signature

LIVE_CONTEXT = "LK1L"
DEFAULT_WINDOW_S = 30.0
DEFAULT_REFRESH_S = 15
_FRAME_LEN = 3


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """A decoded live code: the embedded token, the phone's time and its signature."""

    token: bytes
    t: int
    signature: bytes


def frame_signed_bytes(token: bytes, t: int) -> bytes:
    """The bytes the holder key signs for a frame shown at time `t`."""
    return codec.dumps([LIVE_CONTEXT, t, hashlib.sha256(token).digest()])


def decode_frame(data: bytes) -> LiveFrame:
    """Check the shape of a live frame (strict CBOR); MALFORMED when wrong. Nothing is verified."""
    item = codec.loads_strict(data)
    if not isinstance(item, codec.ARRAY_TYPES) or len(item) != _FRAME_LEN:
        raise TokenError("live frame is not a 3-element array")
    token, t, signature = item
    if not isinstance(token, bytes) or not isinstance(signature, bytes):
        raise TokenError("live frame token or signature not a bstr")
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= MAX_TIME:
        raise TokenError("live frame time of wrong type")
    return LiveFrame(token, t, signature)


def encode_frame(token: bytes, t: int, holder_key: ec.EllipticCurvePrivateKey) -> str:
    """Make the live-code string for `token` at time `t` (what the phone shows)."""
    signature = sign(holder_key, frame_signed_bytes(token, t))
    return codec.LIVE_PREFIX + codec.b45encode(codec.dumps([token, t, signature]))


def check_frame(
    frame: LiveFrame, holder_point: bytes | None, *, now: float, window_s: float
) -> None:
    """Verify a frame's holder signature and freshness (step 12, replay excluded).

    HOLDER_PROOF_INVALID without a holder key or with a bad signature; HOLDER_PROOF_STALE when
    `t` is more than `window_s` from `now` (in either direction).
    """
    if holder_point is None:
        raise TokenError("live code for a token without cnf", reason=Reason.HOLDER_PROOF_INVALID)
    key = p256_from_point(holder_point)
    signed = frame_signed_bytes(frame.token, frame.t)
    if not verify_signature(key, Alg.ES256, frame.signature, signed):
        raise TokenError("holder signature invalid", reason=Reason.HOLDER_PROOF_INVALID)
    if abs(now - frame.t) > window_s:
        raise TokenError("live frame outside the window", reason=Reason.HOLDER_PROOF_STALE)


class SeenFrames:
    """A bounded in-memory record of accepted live frames, to refuse a frame shown twice.

    Keyed on (cti, t) so a re-signed or malleated copy of a frame is still a replay. Entries
    older than the freshness window are useless (the frame would be stale anyway) and are dropped;
    past `max_entries` the oldest entries go first. Not thread-safe: use it from one thread.
    """

    def __init__(self, max_entries: int = 4096, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._seen: OrderedDict[tuple[bytes, int], float] = OrderedDict()
        self._max = max_entries
        self._window = window_s

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, cti: bytes, t: int) -> bool:
        """Whether the frame (cti, t) was accepted already."""
        return (cti, t) in self._seen

    def remember(self, cti: bytes, t: int, now: float) -> None:
        """Record an accepted frame; prune expired entries and keep at most `max_entries`."""
        self._seen[(cti, t)] = now
        self._seen.move_to_end((cti, t))
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            # a frame first seen 2 windows ago is stale by now, so its entry has no use left
            if len(self._seen) <= self._max and seen_at >= now - 2 * self._window:
                break
            del self._seen[oldest]

    def forget(self, cti: bytes, t: int) -> None:
        """Drop a frame (e.g. the door failed and the person may show the same frame again)."""
        self._seen.pop((cti, t), None)
