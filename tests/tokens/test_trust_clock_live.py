"""Trust bundle loading, the pure clock policy and the bounded replay cache."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.reasons import Reason
from agent.tokens import BundleProblem, TokenError, TrustBundleError, load_trust_bundle
from agent.tokens.clock import check_bundle_fresh, check_clock, check_validity, raise_floor
from agent.tokens.live import SeenFrames
from provisioning.fleet import DemoFleet
from provisioning.keyfiles import IssuingKeyEntry
from provisioning.mint import build_bundle
from tests.tokens.conftest import NOW


def test_bundle_round_trip_and_rollback(fleet: DemoFleet) -> None:
    bundle = load_trust_bundle(fleet.bundle_bytes, fleet.roots, current_version=1)
    assert bundle.version == 1
    assert {k.kid for k in bundle.keys} == set(bundle.by_kid)
    with pytest.raises(TrustBundleError) as err:
        load_trust_bundle(fleet.bundle_bytes, fleet.roots, current_version=2)
    assert err.value.problem is BundleProblem.ROLLBACK


def test_bundle_from_an_unpinned_root_is_refused(fleet: DemoFleet) -> None:
    rogue = ec.generate_private_key(ec.SECP256R1())
    entry = IssuingKeyEntry(rogue.public_key(), frozenset(), 0, 2**31)
    with pytest.raises(Exception, match="purpose"):
        build_bundle(rogue, [entry], version=9, now=NOW, valid_s=60)
    data = build_bundle(rogue, [], version=9, now=NOW, valid_s=60)
    with pytest.raises(TrustBundleError) as err:
        load_trust_bundle(data, fleet.roots, current_version=1)
    assert err.value.problem is BundleProblem.UNKNOWN_ROOT


def test_bundle_signed_by_the_backup_root_is_accepted(fleet: DemoFleet) -> None:
    from provisioning.keyfiles import load_private_key

    backup = load_private_key(fleet.root_private_paths[1])
    data = build_bundle(backup, [], version=2, now=NOW, valid_s=60, revoked=[bytes(16)])
    bundle = load_trust_bundle(data, fleet.roots, current_version=1)
    assert bundle.revoked == frozenset({bytes(16)})


def test_oversized_bundle_is_refused_before_parsing(fleet: DemoFleet) -> None:
    with pytest.raises(TrustBundleError) as err:
        load_trust_bundle(b"\x00" * (5 * 1024 * 1024), fleet.roots, current_version=None)
    assert err.value.reason is Reason.TOO_LARGE


def test_clock_policy() -> None:
    check_clock(NOW, floor=NOW + 30, leeway_s=60)
    with pytest.raises(TokenError) as err:
        check_clock(NOW, floor=NOW + 61, leeway_s=60)
    assert err.value.reason is Reason.CLOCK_UNTRUSTED
    with pytest.raises(TokenError):
        check_clock(float("nan"), floor=0, leeway_s=60)
    assert raise_floor(NOW, NOW - 5) == NOW
    assert raise_floor(NOW, NOW + 5) == NOW + 5
    assert raise_floor(NOW, float("inf")) == NOW


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (999.0, None),
        (998.9, Reason.NOT_YET_VALID),
        (2059.9, None),
        (2060.0, Reason.EXPIRED),
    ],
)
def test_validity_boundaries(now: float, reason: Reason | None) -> None:
    if reason is None:
        check_validity(now, not_before=1059, expires=2000, issued_at=1000, leeway_s=60)
        return
    with pytest.raises(TokenError) as err:
        check_validity(now, not_before=1059, expires=2000, issued_at=1000, leeway_s=60)
    assert err.value.reason is reason


def test_stale_bundle_grace_is_for_ordinary_pickups_only() -> None:
    check_bundle_fresh(1100, next_update=1000, grace_s=200, strict=False)
    with pytest.raises(TokenError):
        check_bundle_fresh(1100, next_update=1000, grace_s=200, strict=True)
    with pytest.raises(TokenError):
        check_bundle_fresh(1201, next_update=1000, grace_s=200, strict=False)


def test_seen_frames_stays_bounded_and_forgets_old_frames() -> None:
    seen = SeenFrames(max_entries=100, window_s=30)
    for i in range(1000):
        seen.remember(bytes(16), i, now=float(i))
    assert len(seen) <= 61  # only frames of the last two windows are worth keeping
    assert seen.seen(bytes(16), 999)
    assert not seen.seen(bytes(16), 100)
    burst = SeenFrames(max_entries=100, window_s=30)
    for i in range(1000):
        burst.remember(i.to_bytes(16, "big"), 5, now=10.0)
    assert len(burst) == 100
    burst.forget((999).to_bytes(16, "big"), 5)
    assert not burst.seen((999).to_bytes(16, "big"), 5)
