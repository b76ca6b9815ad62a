"""Part of the composition root: the typed-code keys at start, from their file.

The keys of typed-code lookups live in a file outside the database (a ring while a rotation
runs, `agent.store.code_key_ring`). The configured file must exist (it is shared with the hub at
enrollment); the default one is created, from the key an older agent kept in the database if
there is one, which is then erased from the database.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from agent.config.model import AgentConfig
from agent.errors import ConfigError
from agent.store import journal
from agent.store import secrets as secrets_at_rest
from agent.store.code_key_ring import TypedCodeKeyRing
from agent.store.db import Database

_LOG = logging.getLogger(__name__)


def typed_code_key_file(config: AgentConfig) -> Path:
    """The key file of the typed codes: the configured one, or the default in the data dir."""
    configured = config.typed_codes.key_file
    return configured or config.locker.data_dir / secrets_at_rest.DEFAULT_KEY_FILE


async def load_typed_code_keys(config: AgentConfig, db: Database, now: float) -> TypedCodeKeyRing:
    """The keys of typed-code lookups (see the module docstring); `ConfigError` when the
    configured key file does not exist."""
    path = typed_code_key_file(config)
    keys = await asyncio.to_thread(secrets_at_rest.read_key_ring, path)
    if keys is None and config.typed_codes.key_file is not None:
        raise ConfigError(f"typed_codes.key_file: {path} does not exist")
    legacy = await db.read(secrets_at_rest.stored_legacy_key)
    if keys is None:
        created = legacy or secrets_at_rest.new_key()
        keys = (await asyncio.to_thread(secrets_at_rest.write_key_file, path, created),)
        if legacy is None:
            detail = {"name": "typed_code"}
            await db.run(journal.append_audit, "secret.installed", now=now, detail=detail)
    if legacy is not None:
        await db.run(secrets_at_rest.forget_legacy_key, now, path)
        await db.call(secrets_at_rest.finish_forgetting)
        _LOG.warning("moved the typed-code key out of the database into %s", path)
    return TypedCodeKeyRing(path, keys)
