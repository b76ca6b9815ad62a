"""Support tools of `locker-agent`: why was this code refused, and can this camera read it.

`token check PAYLOAD` verifies a code exactly as the locker would, at an optional time, and
spends nothing; with the locker's database it also says what the locker would do now (spent
here, the order's state, revoked since the bundle). `scan FILE...` decodes image files with
the configured pipeline. Both print one JSON object per item and never write to the agent's
database.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from agent.config.loader import load_config
from agent.config.model import AgentConfig
from agent.errors import ConfigError, StoreError
from agent.services.trust import REVOKED_SETTING, TrustPolicy, load_roots, stored_trust_state
from agent.store import journal
from agent.store.db import open_read_only
from agent.tokens.check import LockerView, apply_locker_view, check_token
from agent.tokens.claims import Purpose
from agent.tokens.errors import TrustBundleError
from agent.tokens.trust import load_trust_bundle
from agent.tokens.verify import VerifyContext

DEFAULT_CONFIG = Path("/etc/locker-agent/agent.toml")


def add_support_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the support commands: `token check` (check a code as this locker would) and `scan`."""
    token = sub.add_parser("token", help="check a code as this locker would, spending nothing")
    token.add_argument("action", choices=["check"])
    token.add_argument("payload", help="the scanned text (LK1:... or LK1L:...)")
    _config_source(token)
    token.add_argument("--at", help="check as of this ISO 8601 time (default: now)")
    token.add_argument(
        "--purpose",
        choices=[p.value for p in Purpose if p is not Purpose.COMMAND],
        default="pickup",
    )

    scan = sub.add_parser("scan", help="decode QR codes in image files (site check)")
    scan.add_argument("files", nargs="+", type=Path)
    scan.add_argument("--backend", choices=["zxing", "pyzbar"], default=None)
    _config_source(scan)


def _config_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--config", type=Path, help=f"agent config (default {DEFAULT_CONFIG})")
    group.add_argument("--data-dir", type=Path, help="a demo's data folder")


def _config(args: argparse.Namespace) -> AgentConfig:
    if args.data_dir is not None:
        data_dir = args.data_dir.resolve()
        from agent.cli.demo import demo_config, demo_trust  # a demo folder: the demo's own config

        return demo_config(data_dir, 0).model_copy(update={"trust": demo_trust(data_dir)})
    return load_config(args.config or DEFAULT_CONFIG)


def _parse_time(text: str | None) -> float:
    if text is None:
        return datetime.now().timestamp()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--at: not an ISO 8601 time: {text!r}") from None
    if parsed.tzinfo is None:
        raise ConfigError("--at: give a time zone, e.g. 2026-11-25T10:00:00Z")
    return parsed.timestamp()


def _stored_trust(database: Path) -> tuple[bytes | None, float]:
    """The bundle and time floor the agent stored (read-only; absent database: none)."""
    if not database.exists():
        return None, 0.0
    try:
        conn = open_read_only(database)
    except (sqlite3.DatabaseError, StoreError):
        return None, 0.0
    try:
        return stored_trust_state(conn)
    except sqlite3.DatabaseError:
        return None, 0.0
    finally:
        conn.close()


def _locker_view(database: Path, cti_hex: str, order_ref: str, kid_hex: str) -> LockerView | None:
    """What the locker's database says about a verified token (None: no readable database)."""
    if not database.exists():
        return None
    try:
        conn = open_read_only(database)
    except (sqlite3.DatabaseError, StoreError):
        return None
    try:
        spent = conn.execute(
            "SELECT spent_at FROM spent_tokens WHERE cti = ?", (bytes.fromhex(cti_hex),)
        ).fetchone()
        order = conn.execute(
            "SELECT state, door FROM orders WHERE order_id = ?", (order_ref,)
        ).fetchone()
        revoked = json.loads(journal.get_setting(conn, REVOKED_SETTING) or "{}")
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return LockerView(
        spent_at=None if spent is None else float(spent[0]),
        order_state=None if order is None else str(order[0]),
        door=None if order is None or order[1] is None else int(order[1]),
        revoked_locally=cti_hex in revoked.get("ctis", ()) or kid_hex in revoked.get("kids", ()),
    )


def token_check(args: argparse.Namespace) -> int:
    """Print `{"valid": ..., "reason": ...}`; exit 0 when valid, 4 when refused."""
    config = _config(args)
    roots = load_roots(config.trust.root_keys)
    stored, floor = _stored_trust(config.database_path)
    configured = config.trust.bundle.read_bytes() if config.trust.bundle else None
    bundle = None
    for data in (stored, configured):
        if data:
            try:
                bundle = load_trust_bundle(data, roots, current_version=None)
                break
            except TrustBundleError:
                continue
    if bundle is None:
        print(
            json.dumps(
                {
                    "valid": False,
                    "reason": "TRUSTLIST_STALE",
                    "detail": "no trust bundle verifies against the pinned roots",
                }
            )
        )
        return 4
    policy = TrustPolicy(leeway_s=config.trust.leeway_s, grace_s=config.trust.grace_hours * 3600)
    ctx = VerifyContext(
        locker_id=config.locker.id,
        trust=bundle,
        leeway_s=policy.leeway_s,
        # installing a bundle raises the agent's floor to its issue time: so must we, even
        # before the agent ever ran (no database yet)
        time_floor=max(floor, bundle.issued_at),
        grace_s=policy.grace_s,
        live_window_s=config.trust.live_window_s,
        id_check_available=config.locker.mode == "counter",
    )
    result = check_token(args.payload, ctx, now=_parse_time(args.at), purpose=Purpose(args.purpose))
    view = None
    if result["valid"]:
        view = _locker_view(
            config.database_path,
            str(result["cti"]),
            str(result["order_ref"]),
            str(result["kid"]),
        )
    result = apply_locker_view(result, view)
    print(json.dumps(result))
    return 0 if result["valid"] else 4


def scan_files(args: argparse.Namespace) -> int:
    """Print one JSON object per file; exit 0 if every file had a code, 4 otherwise."""
    backend = args.backend
    if backend is None and (args.config or args.data_dir):
        backend = _config(args).camera.backend
    # imported here: OpenCV and zxing-cpp cost the other tools a second at start
    from hardware.decoding.backends import make_decoder
    from hardware.decoding.pipeline import scan_image_files

    decoder = make_decoder(backend or "zxing", thorough=True)
    all_found = True
    for result in scan_image_files(args.files, decoder):
        print(json.dumps(result.as_json()), flush=True)
        all_found = all_found and bool(result.codes)
    sys.stdout.flush()
    return 0 if all_found else 4
