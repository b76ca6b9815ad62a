"""The benchmark lockers' device keys, derived from their names.

A locker signs its events and replies with its device key and the hub holds each public key
(docs/protocol.md, "Events are signed"). The benchmarks derive the key from the locker's name
so the hub and the simulator processes agree without passing files: a benchmark only, real device
keys are random and never leave the locker.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def bench_device_key(name: str) -> ed25519.Ed25519PrivateKey:
    """Locker `name`'s device key."""
    seed = hashlib.sha256(f"lk-bench-device-key/{name}".encode()).digest()
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def bench_device_public(name: str) -> bytes:
    """Locker `name`'s device public key as hubs hold it: raw Ed25519, 32 bytes."""
    return (
        bench_device_key(name)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def bench_device_pem(name: str) -> bytes:
    """Locker `name`'s device public key as PEM (for the fleet hub's `enroll_device_key`)."""
    return (
        bench_device_key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
