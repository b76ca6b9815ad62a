"""`[hub]` reaches the sync's settings whole: every key the config documents for the link is used
(a key read nowhere would be a setting that silently does nothing)."""

from __future__ import annotations

from pathlib import Path

from agent.bootstrap.hub_link import sync_settings
from agent.config.loader import config_from_mapping


def test_every_hub_key_reaches_the_sync_settings(tmp_path: Path) -> None:
    hub = {
        "url": "mqtts://broker.example:8883",
        "fleet": "acme",
        "username": "LK-1",
        "keepalive_s": 45,
        "batch_size": 7,
        "inflight_window": 3,
        "confirm_timeout_s": 4,
        "state_interval_s": 90,
        "backoff_min_s": 2,
        "backoff_max_s": 40,
        "photo_chunk_kib": 16,
    }
    raw: dict[str, object] = {"locker": {"id": "LK-1"}, "hub": hub}
    settings = sync_settings(config_from_mapping(raw, source=tmp_path / "agent.toml"))
    assert (settings.host, settings.port, settings.fleet_id) == ("broker.example", 8883, "acme")
    assert (settings.device_id, settings.username) == ("LK-1", "LK-1")
    assert settings.tls is not None
    assert (settings.keepalive, settings.batch_size, settings.inflight_window) == (45, 7, 3)
    assert (settings.confirm_timeout_s, settings.state_interval_s) == (4, 90)
    assert (settings.backoff_min_s, settings.backoff_max_s) == (2, 40)
    assert settings.photo_chunk_bytes == 16 * 1024
