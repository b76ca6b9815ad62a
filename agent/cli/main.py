"""`locker-agent`: run the agent, run the demo, check the database, and support tools.

Exit statuses: 0 ok; 1 failed at run time; 2 bad configuration or arguments; 3 database refused
(corrupt, or newer than this agent); 4 a check found a problem (pending migrations, a refused
token or identity document, an image without a code);
5 `audit verify`: an audit entry is altered, missing or out of order; 6 `audit verify`: a
checkpoint signature does not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.cli.enroll import add_enroll_command, enroll_command
from agent.cli.evidence import add_evidence_commands, evidence_command
from agent.cli.identity import add_identity_commands, mdoc_check
from agent.cli.serve import (
    EXIT_CHECK_FAILED,
    EXIT_CONFIG,
    EXIT_DATABASE,
    EXIT_OK,
    EXIT_RUNTIME,
    serve,
)
from agent.cli.support import add_support_commands, scan_files, token_check
from agent.config.loader import load_config, require_explicit_hardware
from agent.config.model import AgentConfig
from agent.errors import AgentError, ConfigError, StoreError
from agent.observability.logs import setup_logging
from agent.store import audit, audit_verify
from agent.store.db import Database, schema_version_of_code

_LOG = logging.getLogger("agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="locker-agent",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the agent with a configuration file")
    run.add_argument("--config", type=Path, required=True)

    dem = sub.add_parser("demo", help="run a demo locker on embedded defaults")
    dem.add_argument("--port", type=int, default=8080)
    dem.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the demo's data here (default: a fresh temporary folder)",
    )
    dem.add_argument("--json", action="store_true", help="print seeded orders as JSON lines")
    dem.add_argument(
        "--door-close-s",
        type=float,
        default=None,
        help="simulated doors close by themselves this many seconds after opening (0: never;"
        " default: 4)",
    )
    dem.add_argument(
        "--hub",
        metavar="mqtt://HOST:PORT",
        default=None,
        help="also sync with a hub through this broker (anonymous, fleet 'demo'; for trying out)",
    )

    db = sub.add_parser("db", help="check or migrate the database")
    db.add_argument("action", choices=["check", "migrate"])
    db.add_argument("--config", type=Path, required=True)

    aud = sub.add_parser("audit", help="verify the hash-chained, signed audit log")
    aud.add_argument("action", choices=["verify"])
    source = aud.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path)
    source.add_argument("--data-dir", type=Path, help="a demo's data folder")
    aud.add_argument("--public-key", type=Path, help="PEM key to check signatures with")
    add_support_commands(sub)
    add_enroll_command(sub)
    add_identity_commands(sub)
    add_evidence_commands(sub)
    return parser


async def _run(config: AgentConfig) -> int:
    # imported here: `db check`, `audit verify` and the other tools start without the whole agent
    from agent.bootstrap.app import Agent

    await serve(Agent(config))
    return EXIT_OK


async def db_command(action: str, config: AgentConfig) -> int:
    """`locker-agent db check|migrate`: open (and migrate) the database, print a JSON line, return
    0, or `EXIT_CHECK_FAILED` if its schema is not this code's."""
    database = Database(config.database_path, synchronous=config.store.synchronous)
    try:
        was, now = await database.open(migrate=action == "migrate")
    finally:
        await database.close()
    target = schema_version_of_code()
    print(
        json.dumps(
            {
                "database": str(config.database_path),
                "schema": now,
                "code_schema": target,
                "migrated_from": was if was != now else None,
                "integrity": "ok",
            }
        )
    )
    return EXIT_OK if now == target else EXIT_CHECK_FAILED


async def _audit(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        database, key = args.data_dir / "agent.db", args.data_dir / audit.DEVICE_KEY_FILE
    else:
        config = load_config(args.config)
        database, key = config.database_path, audit.device_key_path(config)
    return await audit_verify.verify_command(database, args.public_key or key)


_EXIT_FOR: tuple[tuple[type[BaseException], int, str], ...] = (
    (ConfigError, EXIT_CONFIG, "configuration error"),
    (StoreError, EXIT_DATABASE, "database error"),
    (AgentError, EXIT_RUNTIME, "error"),
    (OSError, EXIT_RUNTIME, "error"),
)


_SYNC_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "token": token_check,
    "scan": scan_files,
    "identity": mdoc_check,
    "evidence": evidence_command,
}


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command in {"run", "demo"}:
        os.umask(0o077)  # whatever the agent writes (database, WAL, keys) is its own
    if args.command == "demo":
        from agent.cli.demo_run import run_demo  # the demo imports provisioning: not for `run`

        return await run_demo(args)
    if args.command == "audit":
        return await _audit(args)
    if args.command == "enroll":
        os.umask(0o077)
        await enroll_command(args)
        if not args.run:
            return EXIT_OK
    config = load_config(args.config)
    if args.command in {"run", "enroll"}:
        require_explicit_hardware(config, args.config)
        return await _run(config)
    return await db_command(args.action, config)


def main(argv: Sequence[str] | None = None) -> int:
    """The `locker-agent` command: run the command the arguments name; returns the exit code."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    try:
        if args.command in _SYNC_COMMANDS:
            return _SYNC_COMMANDS[args.command](args)
        return asyncio.run(_dispatch(args))
    except KeyboardInterrupt:
        return EXIT_OK
    except (AgentError, OSError) as err:
        status, label = next((s, lbl) for kind, s, lbl in _EXIT_FOR if isinstance(err, kind))
        print(f"{label}: {err}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
