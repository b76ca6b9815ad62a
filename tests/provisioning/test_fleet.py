"""The demo fleet and delegation, as the demo and the lead use them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.reasons import Reason
from agent.tokens import TokenError, TokenFlags, VerifyContext, verify_token
from provisioning.errors import ProvisioningError
from provisioning.fleet import create_demo_fleet
from provisioning.mint import mint_delegate
from provisioning.wallet import Wallet

NOW = 1_800_000_000.0


def test_demo_fleet_files_and_tokens(tmp_path: Path) -> None:
    fleet = create_demo_fleet(tmp_path / "fleet", "LCK-D", NOW)
    assert all(p.exists() for p in (*fleet.root_public_paths, fleet.bundle_path))
    ctx = VerifyContext(locker_id="LCK-D", trust=fleet.trust_bundle())
    token = fleet.mint_pickup("ORD-D", now=NOW, hold_s=3600)
    assert verify_token(token, ctx, now=NOW + 1).order_ref == "ORD-D"
    with pytest.raises(TokenError) as err:
        verify_token(token, VerifyContext(locker_id="LCK-E", trust=ctx.trust), now=NOW + 1)
    assert err.value.reason is Reason.WRONG_LOCKER


def test_live_only_delegate_needs_its_own_holder(tmp_path: Path) -> None:
    fleet = create_demo_fleet(tmp_path, "LCK-D", NOW)
    owner, friend = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    flags = TokenFlags(live_required=True)
    token = fleet.mint_pickup(
        "ORD-L", now=NOW, hold_s=3600, flags=flags, holder_key=owner.public_key()
    )
    with pytest.raises(ProvisioningError):
        mint_delegate(fleet.issuing_key, token, now=NOW)
    delegate = mint_delegate(fleet.issuing_key, token, now=NOW, holder_key=friend.public_key())
    with pytest.raises(ProvisioningError):
        Wallet(delegate, owner)  # the owner's key is not the delegate's
    ctx = VerifyContext(locker_id="LCK-D", trust=fleet.trust_bundle())
    proven = verify_token(Wallet(delegate, friend).live_code(NOW + 30), ctx, now=NOW + 31)
    assert proven.order_ref == "ORD-L"
