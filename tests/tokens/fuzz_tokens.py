"""Long mutation fuzz of the token verifier (not collected by pytest; see docs/fuzzing.md).

Usage: python tests/tokens/fuzz_tokens.py [N_INPUTS] [SEED] [MAX_SECONDS]

Feeds mutated valid tokens and live codes (bit flips, byte and character edits, truncation,
splices, random Base45 and random text) to `verify_token`. Fails if anything other than a
`TokenError` escapes, or if any input other than the unmodified seeds verifies.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from agent.tokens import SeenFrames, TokenError, VerifyContext, codec, verify_token
from agent.tokens.claims import TokenFlags
from provisioning.fleet import create_demo_fleet
from provisioning.wallet import Wallet

ALPHABET = codec.B45_ALPHABET


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[pos % len(buf)] = rng.randrange(256)
        elif op == 2:
            buf.insert(pos, rng.randrange(256))
        elif op == 3 and buf:
            del buf[pos % len(buf) :]
        else:
            buf[pos:pos] = buf[rng.randrange(len(buf) + 1) :][: rng.randrange(1, 9)]
    return bytes(buf)


def _mutate_text(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(chars) + 1)
        choice = rng.randrange(3)
        if choice == 0 and chars:
            chars[pos % len(chars)] = rng.choice(ALPHABET + "abc\n\x00é")
        elif choice == 1:
            chars.insert(pos, rng.choice(ALPHABET))
        elif chars:
            del chars[pos % len(chars)]
    return "".join(chars)


def _candidate(rng: random.Random, seeds: list[str]) -> str:
    seed = rng.choice(seeds)
    kind = rng.randrange(10)
    if kind < 5:
        prefix = codec.LIVE_PREFIX if seed.startswith(codec.LIVE_PREFIX) else codec.TOKEN_PREFIX
        raw = codec.b45decode(seed[len(prefix) :])
        return prefix + codec.b45encode(_mutate_bytes(rng, raw))
    if kind < 8:
        return _mutate_text(rng, seed)
    if kind == 8:
        return codec.TOKEN_PREFIX + "".join(rng.choices(ALPHABET, k=rng.randrange(600)))
    return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(40)))


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else 1800.0
    now = 1_800_000_000.0
    fleet = create_demo_fleet(Path(tempfile.mkdtemp()), "LCK-1", now)
    ctx = VerifyContext(locker_id="LCK-1", trust=fleet.trust_bundle())
    holder = ec.generate_private_key(ec.SECP256R1())
    live_token = fleet.mint_pickup(
        "ORD-2", now=now, hold_s=86400, flags=TokenFlags(live_required=True),
        holder_key=holder.public_key(),
    )  # fmt: skip
    seeds = [fleet.mint_pickup("ORD-1", now=now, hold_s=86400, compartment=3), live_token]
    seeds.append(Wallet(live_token, holder).live_code(now))
    reasons: Counter[str] = Counter()
    start = time.monotonic()
    done = 0
    slowest = 0.0
    while done < total and time.monotonic() - start < budget:
        payload = _candidate(rng, seeds)
        began = time.perf_counter()
        try:
            verify_token(payload, ctx, now=now + 5, live_frame_seen=SeenFrames())
        except TokenError as err:
            reasons[err.reason.value] += 1
        else:
            if payload not in seeds:
                print(f"AUTHORISED A MUTANT: {payload!r}")
                return 1
            reasons["valid"] += 1
        slowest = max(slowest, time.perf_counter() - began)
        done += 1
    elapsed = time.monotonic() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"inputs={done} seconds={elapsed:.1f} rate={done / elapsed:.0f}/s")
    print(f"slowest input {slowest * 1000:.2f} ms, max RSS {rss_mb:.0f} MiB")
    for reason, count in reasons.most_common():
        print(f"  {reason:24} {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
