"""The offline bundle series: versions and times, keys published ahead of use, retired keys gone."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.tokens.claims import Purpose
from agent.tokens.trust import load_trust_bundle
from provisioning.errors import ProvisioningError
from provisioning.keyfiles import IssuingKeyEntry, generate_key
from provisioning.trust_series import DAY, presign_series


def test_series_lists_a_future_key_ahead_of_use_and_drops_a_retired_one(tmp_path: Path) -> None:
    root = generate_key("es256")
    start = int(time.time())
    old, new, cmd = generate_key("es256"), generate_key("es256"), generate_key("es256")
    entries = [
        IssuingKeyEntry(old.public_key(), frozenset({Purpose.PICKUP}), start - DAY,
                        start + 3 * DAY),
        IssuingKeyEntry(new.public_key(), frozenset({Purpose.PICKUP}), start + 2 * DAY,
                        start + 400 * DAY),
        IssuingKeyEntry(cmd.public_key(), frozenset({Purpose.COMMAND}), start, start + 400 * DAY),
    ]  # fmt: skip
    manifest = presign_series(root, entries, tmp_path, first_version=10, start=start, count=6)
    assert [m["version"] for m in manifest] == list(range(10, 16))
    assert [m["issued_at"] for m in manifest] == [start + k * DAY for k in range(6)]
    assert json.loads((tmp_path / "series.json").read_text()) == manifest
    bundles = [
        load_trust_bundle((tmp_path / str(m["file"])).read_bytes(), [root.public_key()],
                          current_version=None)
        for m in manifest
    ]  # fmt: skip
    counts = [len(b.keys) for b in bundles]
    assert counts == [3, 3, 3, 2, 2, 2]  # the new key from day 0, the old one gone after day 3
    assert all(b.next_update - b.issued_at == 7 * DAY for b in bundles)


def test_a_bundle_must_outlive_the_publishing_interval(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError):
        presign_series(generate_key("es256"), [], tmp_path, first_version=1, start=0.0,
                       count=2, every_s=7 * DAY, valid_s=7 * DAY)  # fmt: skip
