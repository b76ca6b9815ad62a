"""`locker-admin device ca-create|cert`, `locker-admin evidence verify` (C2PA evidence photos)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from agent.evidence.verify import audit_link_problem, verify_photo
from provisioning import device_ca
from provisioning.errors import ExitStatus, ProvisioningError
from provisioning.keyfiles import passphrase_if_given

EXIT_REFUSED = 4  # at least one photo is not valid evidence (as `identity mdoc-check`)


def add_device_commands(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `device ca-create` and `device cert` commands."""
    ca = cmds.add_parser("ca-create", help="new fleet device CA (device-ca.key.pem, device-ca.pem)")
    ca.add_argument("--fleet", required=True, help="the fleet name (certificate organization)")
    ca.add_argument("--out-dir", type=Path, default=Path())
    ca.add_argument("--valid-days", type=float, default=3650.0)
    ca.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        help="encrypt the CA key with this passphrase (or $LOCKER_ADMIN_PASSPHRASE)",
    )
    ca.set_defaults(handler=_ca_create)
    cert = cmds.add_parser("cert", help="a device's evidence-signing key and certificate chain")
    cert.add_argument("--locker-id", required=True)
    cert.add_argument("--ca-key", type=Path, required=True, help="device-ca.key.pem")
    cert.add_argument("--ca-cert", type=Path, required=True, help="device-ca.pem")
    cert.add_argument("--out-dir", type=Path, default=Path())
    cert.add_argument("--valid-days", type=float, default=825.0)
    cert.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        help="passphrase of an encrypted CA key (else $LOCKER_ADMIN_PASSPHRASE)",
    )
    cert.set_defaults(handler=_device_cert)


def add_evidence(parser: argparse.ArgumentParser) -> None:
    """Add the `evidence verify` command (check evidence photos against the fleet device CA)."""
    cmds = parser.add_subparsers(dest="cmd", required=True)
    verify = cmds.add_parser(
        "verify",
        help="check evidence photos: valid C2PA manifest, signer from this fleet, this locker "
        f"(one JSON line per file; exit 0 all valid, {EXIT_REFUSED} any refused)",
    )
    verify.add_argument("files", type=Path, nargs="+", metavar="FILE")
    verify.add_argument("--ca", type=Path, required=True, help="the fleet device CA (PEM)")
    verify.add_argument("--locker", help="the locker id the photos must come from")
    verify.add_argument(
        "--audit-db",
        type=Path,
        help="the locker's agent.db (or a copy): each photo must sit in its audit log",
    )
    verify.set_defaults(handler=_evidence_verify)


def _ca_create(args: argparse.Namespace) -> int:
    ca = device_ca.create_ca(args.fleet, now=time.time(), valid_days=args.valid_days)
    secret = passphrase_if_given(args.passphrase_file)
    key_path, cert_path = device_ca.write_ca(ca, args.out_dir, secret)
    print(json.dumps({"key": str(key_path), "certificate": str(cert_path)}))
    return int(ExitStatus.OK)


def _device_cert(args: argparse.Namespace) -> int:
    ca = device_ca.load_ca(args.ca_key, args.ca_cert, args.passphrase_file)
    key_path, chain_path = device_ca.write_device_credentials(
        ca, args.locker_id, args.out_dir, now=time.time(), valid_days=args.valid_days
    )
    print(json.dumps({"locker": args.locker_id, "key": str(key_path), "chain": str(chain_path)}))
    return int(ExitStatus.OK)


def _evidence_verify(args: argparse.Namespace) -> int:
    try:
        ca_pem = args.ca.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        raise ProvisioningError(
            f"cannot read {args.ca}: {err}", ExitStatus.INPUT_UNREADABLE
        ) from err
    if "BEGIN CERTIFICATE" not in ca_pem:
        raise ProvisioningError(f"{args.ca} holds no PEM certificate", ExitStatus.USAGE)
    audit = _open_audit(args.audit_db)
    refused = 0
    for path in args.files:
        try:
            data = path.read_bytes()
        except OSError:
            line: dict[str, object] = {"valid": False, "reason": "unreadable"}
        else:
            verdict = verify_photo(data, ca_pem, args.locker)
            line = verdict.as_json()
            if verdict.valid and audit is not None:
                problem = audit_link_problem(audit, verdict.facts, hashlib.sha256(data).hexdigest())
                line.update(valid=problem is None, reason=problem)
        refused += not line["valid"]
        print(json.dumps({"file": str(path), **line}, sort_keys=True))
    return EXIT_REFUSED if refused else int(ExitStatus.OK)


def _open_audit(path: Path | None) -> sqlite3.Connection | None:
    if path is None:
        return None
    if not path.is_file():
        raise ProvisioningError(f"cannot read {path}", ExitStatus.INPUT_UNREADABLE)
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
