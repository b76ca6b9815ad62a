"""The typed-code key ring in force, reloaded from its file while the agent runs.

Rotation (docs/provisioning.md, "Rotating keys") keeps the old key until the codes made with it
have expired, because neither side can re-key a code: the hub keeps only its digest, the locker
only the digest the hub sent. So the key file may list several keys, current first; a typed code
is looked up under each. The admin replaces the file (write a new file, then rename it over the
old one); `watch` notices within `every_s`, swaps the ring without a restart (no downtime, no
event lost) and records `secret.rotated` in the audit log with the key ids, never the keys.
A file that does not parse is logged and ignored: the ring in force stays.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from agent.domain.clock import Clock
from agent.errors import ConfigError
from agent.store import journal
from agent.store import secrets as secrets_at_rest
from agent.store.db import Database
from agent.tokens.typed_codes import CodeKeys, code_key_id, lookup_keys

_LOG = logging.getLogger(__name__)
ROTATED_ACTION = "secret.rotated"


class TypedCodeKeyRing:
    """The keys typed codes are looked up with; the first also makes new digests."""

    def __init__(self, path: Path, keys: tuple[bytes, ...]) -> None:
        if not keys:
            raise ValueError("a key ring needs a key")
        self.path = path
        self._keys = keys
        self._problem = ""  # the last unusable file's problem, logged once

    @property
    def current(self) -> bytes:
        return self._keys[0]

    @property
    def key_ids(self) -> list[str]:
        return [code_key_id(key) for key in self._keys]

    def lookup(self, code: str) -> CodeKeys:
        """The code's digest under every key in force (TokenError if it is malformed)."""
        return lookup_keys(code, self._keys)

    async def reload(self, db: Database, clock: Clock) -> bool:
        """Read the file again; swap and audit if its keys changed. True if they did."""
        try:
            keys = await asyncio.to_thread(secrets_at_rest.read_key_ring, self.path)
        except ConfigError as err:
            if str(err) != self._problem:
                _LOG.warning("typed-code key file not reloaded: %s", err)
                self._problem = str(err)
            return False
        self._problem = ""
        if keys is None or keys == self._keys:
            return False
        before = self.key_ids
        self._keys = keys
        detail = {"name": "typed_code", "keys": self.key_ids, "before": before}
        await db.run(journal.append_audit, ROTATED_ACTION, now=clock.now(), detail=detail)
        _LOG.info("typed-code keys now %s (were %s)", self.key_ids, before)
        return True

    async def watch(self, db: Database, clock: Clock, every_s: float = 5.0) -> None:
        """Reload every `every_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            await self.reload(db, clock)
