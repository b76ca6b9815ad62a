"""`locker-agent identity mdoc-check`: verify a DeviceResponse as the locker would, offline.

Prints one JSON object: `{"valid", "reason", "doctype", "issuer_country", "age_over",
"device_auth", "detail"}`. Exit 0 when valid (and `--min-age` holds), 4 when refused, 2 for bad
arguments or unreadable files (the message goes to stderr). Nothing is logged or stored, and no
data element value is printed except the `age_over_NN` booleans.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity.certs import IacaTrustList
from agent.identity.errors import MdocError
from agent.identity.transcript import SessionTranscript, parse_session_transcript
from agent.identity.verify import MdocOutcome, MdocPolicy, require_age, verify_device_response

EXIT_VALID, EXIT_BAD_ARGUMENTS, EXIT_REFUSED = 0, 2, 4


class _BadArgument(Exception):
    """An argument or input file the check cannot use (exit 2)."""


def add_identity_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `identity` commands (offline checks of identity media)."""
    identity = sub.add_parser("identity", help="verify identity media offline (ISO 18013-5 mdoc)")
    actions = identity.add_subparsers(dest="identity_action", required=True)
    check = actions.add_parser(
        "mdoc-check",
        help="verify a CBOR DeviceResponse against a SessionTranscript and IACA roots",
    )
    check.add_argument(
        "response", type=Path, metavar="RESPONSE", help="file with the CBOR DeviceResponse"
    )
    check.add_argument(
        "--transcript",
        type=Path,
        required=True,
        help="file with the SessionTranscript (CBOR array or tag-24 SessionTranscriptBytes)",
    )
    check.add_argument(
        "--iaca",
        type=Path,
        required=True,
        metavar="PEM_OR_DIR",
        help="IACA root PEM file, or a folder of them",
    )
    check.add_argument(
        "--reader-key",
        type=Path,
        metavar="PEM",
        help="the reader's ephemeral private key (PEM, PKCS#8 or SEC1) for a DeviceMac",
    )
    check.add_argument(
        "--at", metavar="ISO8601", help="check as of this ISO 8601 time (default: now)"
    )
    check.add_argument("--min-age", type=int, metavar="N", help="require age_over_NN = true")
    check.add_argument("--doctype", help="verify the document of this doctype (default: first)")


def mdoc_check(args: argparse.Namespace) -> int:
    """`locker-agent identity mdoc-check`: verify a DeviceResponse offline, print the outcome."""
    try:
        inputs = _inputs(args)
    except _BadArgument as err:
        print(f"identity mdoc-check: {err}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    response, transcript, policy, reader_key, now = inputs
    outcome: MdocOutcome | None = None
    try:
        outcome = verify_device_response(
            response, transcript, policy, now=now, reader_key=reader_key, doctype=args.doctype
        )
        if args.min_age is not None:
            require_age(outcome, args.min_age)
    except MdocError as err:
        print(json.dumps(_result(outcome, reason=err.code.value, detail=err.detail)))
        return EXIT_REFUSED
    print(json.dumps(_result(outcome)))
    return EXIT_VALID


def _result(
    outcome: MdocOutcome | None, *, reason: str | None = None, detail: str | None = None
) -> dict[str, object]:
    return {
        "valid": reason is None,
        "reason": reason,
        "doctype": outcome.doctype if outcome else None,
        "issuer_country": outcome.issuer_country if outcome else None,
        "age_over": {f"{k:02d}": v for k, v in sorted(outcome.age_over.items())} if outcome else {},
        "device_auth": outcome.device_auth.value if outcome else None,
        "detail": detail,
    }


def _inputs(
    args: argparse.Namespace,
) -> tuple[bytes, SessionTranscript, MdocPolicy, ec.EllipticCurvePrivateKey | None, float]:
    if args.min_age is not None and not 0 <= args.min_age <= 99:
        raise _BadArgument("--min-age must be 0..99")
    now = _parse_time(args.at)
    response = _read(args.response, "RESPONSE")
    try:
        transcript = parse_session_transcript(_read(args.transcript, "--transcript"))
    except MdocError as err:
        raise _BadArgument(f"--transcript: not a SessionTranscript ({err.detail})") from None
    try:
        trust = _trust_list(args.iaca)
    except (OSError, ValueError) as err:
        raise _BadArgument(f"--iaca: no PEM certificate read from {args.iaca} ({err})") from None
    reader_key = _reader_key(args.reader_key) if args.reader_key else None
    return response, transcript, MdocPolicy(trust), reader_key, now


def _trust_list(path: Path) -> IacaTrustList:
    """A PEM file, or every `*.pem` / `*.crt` file of a folder."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".pem", ".crt"})
    else:
        files = [path]
    return IacaTrustList.from_pem(p.read_bytes() for p in files)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise _BadArgument(f"{what}: cannot read {path} ({err.strerror})") from None


def _reader_key(path: Path) -> ec.EllipticCurvePrivateKey:
    data = _read(path, "--reader-key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise _BadArgument("--reader-key: not an unencrypted PEM private key") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _BadArgument("--reader-key: not an EC private key")
    return key


def _parse_time(text: str | None) -> float:
    if text is None:
        return time.time()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _BadArgument(f"--at: not an ISO 8601 time: {text!r}") from None
    if parsed.tzinfo is None:
        raise _BadArgument("--at: give a time zone, e.g. 2021-01-01T00:00:00Z")
    return parsed.timestamp()
