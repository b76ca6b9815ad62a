"""`locker-agent evidence list|export`: the evidence photos this locker holds (read-only).

`list [--order REF]` prints one JSON object per photo, oldest first. `export --order REF --out
DIR` copies that order's signed photos into DIR (each verifiable on its own with
`locker-admin evidence verify` or `c2patool`), with `index.json` (the rows and the audit
entries each photo names, hex hashes) and `device-chain.pem` (the signer's chain, for reference:
trust comes from the fleet's device CA, not from the file). Exit 0; 2 for bad arguments or no
database; 4 when the order has no photos.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from agent.config.loader import load_config
from agent.evidence.catalog import photo_rows
from agent.evidence.recorder import EVIDENCE_FOLDER

DEFAULT_CONFIG = Path("/etc/locker-agent/agent.toml")
EXIT_NOTHING = 4


def add_evidence_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `evidence` command (list or export evidence photos)."""
    evidence = sub.add_parser("evidence", help="list or export evidence photos")
    evidence.add_argument("action", choices=["list", "export"])
    evidence.add_argument("--order", help="only this order reference")
    evidence.add_argument("--out", type=Path, help="export: the folder to write")
    group = evidence.add_mutually_exclusive_group()
    group.add_argument("--config", type=Path, help=f"agent config (default {DEFAULT_CONFIG})")
    group.add_argument("--data-dir", type=Path, help="a demo's data folder")


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        from agent.cli.demo import demo_config  # a demo folder: the demo's own config

        return Path(demo_config(args.data_dir.resolve(), 0).locker.data_dir)
    return load_config(args.config or DEFAULT_CONFIG).locker.data_dir


def _rows(database: Path, order: str | None) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return photo_rows(conn, order)
    finally:
        conn.close()


def evidence_command(args: argparse.Namespace) -> int:
    """`locker-agent evidence list|export`: print an order's photos, or copy them to a folder."""
    data_dir = _data_dir(args)
    database = data_dir / "agent.db"
    if not database.exists():
        print(f"locker-agent: no database in {data_dir}", flush=True)
        return 2
    rows = _rows(database, args.order)
    if args.action == "list":
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    if args.order is None or args.out is None:
        print("locker-agent: evidence export needs --order and --out")
        return 2
    kept = [r for r in rows if not r["pruned"]]
    if not kept:
        print(json.dumps({"order": args.order, "photos": 0}))
        return EXIT_NOTHING
    args.out.mkdir(parents=True, exist_ok=True)
    folder = data_dir / EVIDENCE_FOLDER
    for row in kept:
        shutil.copyfile(folder / row["file"], args.out / row["file"])
    chain = data_dir / "evidence-signing.chain.pem"
    if chain.exists():
        shutil.copyfile(chain, args.out / "device-chain.pem")
    (args.out / "index.json").write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"order": args.order, "photos": len(kept), "out": str(args.out)}))
    return 0
