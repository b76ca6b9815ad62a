"""Rotating the audit device key of a running agent: handed over by the old key, verifiable from
the first key alone, crash-safe, no event lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.store.audit import (
    DeviceKey,
    device_key_path,
    load_or_create_device_key,
    load_public_key,
    public_key_id,
)
from agent.store.audit_rotation import _record, _stage, retired_public_path, rotate_device_key
from agent.store.audit_verify import _keys_for, verify_audit_file
from tests.agent.conftest import start_agent


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


async def test_a_rotation_is_signed_by_the_old_key_and_verifies_from_the_first_key(
    tmp_path: Path,
) -> None:
    running = await start_agent(tmp_path / "data")
    agent = running.agent
    key_path = device_key_path(agent.config)
    first = load_public_key(key_path)
    first_kid = public_key_id(first)
    try:
        kids = await rotate_device_key(agent.db, agent.running.audit, key_path, running.clock)
        await running.post("/api/v1/pickup/code", {"code": running.orders[0].code})
        again = await rotate_device_key(agent.db, agent.running.audit, key_path, running.clock)
    finally:
        await running.close()  # signs the head with the newest key
    assert kids["old_kid"] == first_kid
    assert again["old_kid"] == kids["new_kid"]
    assert public_key_id(load_public_key(key_path)) == again["new_kid"]
    # the retired keys' public halves stay; their private halves are gone
    assert retired_public_path(key_path, first_kid).exists()
    assert b"PRIVATE" not in retired_public_path(key_path, first_kid).read_bytes()
    db = agent.config.database_path
    # what the hub knows at enrollment, the first key, is enough: each rotation proves the next
    report = verify_audit_file(db, {first_kid: first})
    assert report.problems == ()
    kids_signing = [json.loads(str(r[0]))["kid"] for r in _rows(
        db, "SELECT detail FROM audit WHERE action = 'audit.checkpoint' ORDER BY seq")]  # fmt: skip
    assert {first_kid, kids["new_kid"], again["new_kid"]} <= set(kids_signing)
    assert verify_audit_file(db, _keys_for(key_path)).problems == ()  # `audit verify`'s keys
    # a stranger's key proves nothing: every checkpoint fails
    stranger = ed25519.Ed25519PrivateKey.generate().public_key()
    assert verify_audit_file(db, {public_key_id(stranger): stranger}).exit_status != 0
    seqs = [int(str(r[0])) for r in _rows(db, "SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing lost in the outbox


async def test_a_crash_between_commit_and_rename_finishes_the_rotation_at_start(
    tmp_path: Path,
) -> None:
    running = await start_agent(tmp_path / "data", seed=False, serve=False)
    key_path = device_key_path(running.agent.config)
    old = load_or_create_device_key(key_path)
    private = ed25519.Ed25519PrivateKey.generate()
    new = DeviceKey(private, public_key_id(private.public_key()))
    _stage(key_path, old, private)
    await running.agent.db.run(_record, old, new, now=running.clock.now())
    await running.close()  # "crash": the rename never happened
    restarted = await start_agent(tmp_path / "data", seed=False, serve=False)
    try:
        assert restarted.agent.running.audit.kid == new.kid
        assert not key_path.with_name(key_path.name + ".next").exists()
    finally:
        await restarted.close()
    assert (
        verify_audit_file(running.agent.config.database_path, {old.kid: old.public}).problems == ()
    )


async def test_a_rotation_that_never_committed_is_dropped_at_start(tmp_path: Path) -> None:
    running = await start_agent(tmp_path / "data", seed=False, serve=False)
    key_path = device_key_path(running.agent.config)
    old = load_or_create_device_key(key_path)
    _stage(key_path, old, ed25519.Ed25519PrivateKey.generate())
    await running.close()
    restarted = await start_agent(tmp_path / "data", seed=False, serve=False)
    try:
        assert restarted.agent.running.audit.kid == old.kid
        assert not key_path.with_name(key_path.name + ".next").exists()
    finally:
        await restarted.close()
