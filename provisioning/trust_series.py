"""Pre-signing a series of trust bundles with a fleet root, offline, for the hub to publish.

The device accepts only root-signed bundles (agent/tokens/trust.py). So the root stays offline
and signs ahead of time: bundle k of the series has version `first + k`, `issued_at = start +
k * every`, `next_update = issued_at + valid`. The hub (hub_sync/hub/leader.py) holds only
these signed files and publishes each when its `issued_at` comes; it holds no key that can sign
a bundle. An issuing key that should come into use later is listed from now on with a future
`not_before` (published ahead of use); one that retires stops being listed after its
`not_after`. See docs/hub.md, "Key hierarchy".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from agent.tokens.keys import PrivateKey
from provisioning.errors import ProvisioningError
from provisioning.keyfiles import IssuingKeyEntry
from provisioning.mint import build_bundle

DAY = 86_400


def presign_series(
    root: PrivateKey,
    entries: Sequence[IssuingKeyEntry],
    out: Path,
    *,
    first_version: int,
    start: float,
    count: int,
    every_s: float = DAY,
    valid_s: float = 7 * DAY,
) -> list[dict[str, object]]:
    """Write `count` signed bundles and `series.json` (their versions and times) into `out`."""
    if not 0 < every_s < valid_s:
        raise ProvisioningError("a bundle must be valid longer than the publishing interval")
    if count < 1 or count > 10_000:
        raise ProvisioningError("count must be 1..10000")
    out.mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, object]] = []
    for k in range(count):
        issued = int(start + k * every_s)
        # keys listed only while they are valid at some point of this bundle's window
        live = [e for e in entries if e.not_after > issued]
        data = build_bundle(root, live, version=first_version + k, now=issued, valid_s=valid_s)
        name = f"bundle-v{first_version + k:06d}.cose"
        (out / name).write_bytes(data)
        manifest.append(
            {"version": first_version + k, "issued_at": issued,
             "next_update": int(issued + valid_s), "file": name}
        )  # fmt: skip
    (out / "series.json").write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    return manifest
