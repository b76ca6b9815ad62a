"""A hub written from `docs/protocol.md` alone: nothing from `hub_sync`, `agent` or `provisioning`.

What an outside team would build: paho-mqtt for the transport, `json` for the envelope, `hmac` and
`hashlib` for the typed-code digest ("Typed-code material"), `cryptography` for the ES256/EdDSA
command and confirm signatures over the canonical JSON the doc spells out ("Signatures", "Confirms
are signed"), and to check the device's reply signatures ("Replies are signed"). It confirms events
as the "Hub rule" says and records every message the device sends, for the schema checks.

paho runs its own network thread; tests reach it through `asyncio.to_thread` only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from paho.mqtt.enums import CallbackAPIVersion

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def normalise(code: str) -> str:
    """protocol.md: upper case, no spaces or hyphens, O->0, I/L->1 (docs/tokens.md section 6)."""
    text = code.upper().replace(" ", "").replace("-", "").replace("\t", "")
    text = text.replace("O", "0").replace("I", "1").replace("L", "1")
    assert len(text) == 8
    assert all(ch in CROCKFORD for ch in text)
    return text


def read_code_key(text: str) -> bytes:
    """The typed-code key file: one line of hex, at least 16 bytes."""
    key = bytes.fromhex(text.strip())
    assert len(key) >= 16
    return key


def load_sign_key(pem: bytes) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    """The hub's command key: PEM PKCS#8, P-256 or Ed25519."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return key


def code_material(code: str, key: bytes) -> dict[str, str]:
    """`args.code` of order.upsert: scheme and lower-case hex HMAC-SHA256(key, normalised code)."""
    digest = hmac.new(key, normalise(code).encode("ascii"), hashlib.sha256).hexdigest()
    return {"scheme": "hmac-sha256", "digest": digest}


def canonical(value: object) -> bytes:
    """Keys sorted, no whitespace, UTF-8 without escapes beyond what JSON needs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def kid(public: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> str:
    """First 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo, hex."""
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()[:8].hex()


def signature(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    *,
    fleet: str,
    device: str,
    name: str,
    transaction_id: str,
    args: Mapping[str, Any],
    exp: int,
) -> dict[str, object]:
    nonce = secrets.token_hex(16)
    signed = canonical(
        {"args": dict(args), "ctx": "lk-cmd/v1", "device": device, "exp": exp, "fleet": fleet,
         "name": name, "nonce": nonce, "transaction_id": transaction_id}
    )  # fmt: skip
    alg, value = _raw_signature(key, signed)
    return {"alg": alg, "kid": kid(key.public_key()), "exp": exp, "nonce": nonce, "value": value}


def confirm_signature(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    *,
    fleet: str,
    device: str,
    through_seq: int,
    in_reply_to: str,
) -> dict[str, object]:
    """The doc's "Confirms are signed": the same key and encoding as commands, no exp or nonce."""
    signed = canonical(
        {"ctx": "lk-confirm/v1", "device": device, "fleet": fleet, "in_reply_to": in_reply_to,
         "through_seq": through_seq}
    )  # fmt: skip
    alg, value = _raw_signature(key, signed)
    return {"alg": alg, "kid": kid(key.public_key()), "value": value}


def reply_signed_by(body: Mapping[str, Any], public_raw: bytes) -> bool:
    """The doc's "Replies are signed": EdDSA by the device key over the canonical JSON of the
    reply's fields with `ctx` "lk-reply/v1"."""
    signed = canonical(
        {"command_message_id": body["command_message_id"], "ctx": "lk-reply/v1",
         "detail": body.get("detail", ""), "device": body["device"], "fleet": body["fleet"],
         "ok": body["ok"], "reason": body.get("reason"), "result": body.get("result") or {},
         "transaction_id": body["transaction_id"]}
    )  # fmt: skip
    return _ed25519_verifies(body.get("sig"), public_raw, signed)


def events_signed_by(body: Mapping[str, Any], public_raw: bytes) -> bool:
    """The doc's "Events are signed": EdDSA by the device key over the canonical JSON of the
    message id, base and events (each `created_at` as a float) with `ctx` "lk-events/v1"."""
    events = [{**e, "created_at": float(e["created_at"])} for e in body["events"]]
    signed = canonical(
        {"base": body["base"], "ctx": "lk-events/v1", "device": body["device"], "events": events,
         "fleet": body["fleet"], "message_id": body["message_id"]}
    )  # fmt: skip
    return _ed25519_verifies(body.get("sig"), public_raw, signed)


def _ed25519_verifies(sig: object, public_raw: bytes, signed: bytes) -> bool:
    if not isinstance(sig, dict) or sig.get("alg") != "EdDSA":
        return False
    value = str(sig.get("value", ""))
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_raw).verify(raw, signed)
    except InvalidSignature:
        return False
    return True


def _raw_signature(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, signed: bytes
) -> tuple[str, str]:
    """`alg` and the base64url (unpadded) raw signature: Ed25519, or ES256 as r || s."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        alg, raw = "EdDSA", key.sign(signed)
    else:
        r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
        alg, raw = "ES256", r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return alg, base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class Received:
    topic: str
    leaf: str
    body: dict[str, Any]


@dataclass
class MiniHub:
    """One fleet's hub on one broker connection (the hub user reads and writes `lk/v1/F/#`)."""

    host: str
    port: int
    username: str
    password: str
    fleet: str
    sign_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | None = None
    #: False: a hub that is down for events (stores and confirms nothing) but still listening
    confirming: bool = True
    received: list[Received] = field(default_factory=list)
    through: dict[str, int] = field(default_factory=dict)
    _replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _client: mqtt.Client | None = None

    def start(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"mini-hub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(self.username, self.password)
        client.on_message = self._on_message
        subscribed = threading.Event()
        client.on_subscribe = lambda *_: subscribed.set()
        client.connect(self.host, self.port, keepalive=30)
        client.loop_start()
        client.subscribe([(f"lk/v1/{self.fleet}/+/{leaf}", 1)
                          for leaf in ("evt", "reply", "state", "status")])  # fmt: skip
        assert subscribed.wait(10), "the broker did not confirm the subscription"
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()

    def _on_message(self, client: mqtt.Client, _: object, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        device, leaf = parts[3], parts[4]
        body = json.loads(msg.payload)
        if leaf == "evt" and self.confirming:
            self._confirm(client, device, body)
        with self._cond:
            self.received.append(Received(msg.topic, leaf, body))
            if leaf == "reply":
                self._replies[body["command_message_id"]] = body
            self._cond.notify_all()

    def _confirm(self, client: mqtt.Client, device: str, batch: dict[str, Any]) -> None:
        """The hub rule: store the contiguous events, confirm the highest, after EVERY message."""
        through = self.through.setdefault(device, batch["base"])
        for event in batch["events"]:
            if event["seq"] == through + 1:
                through += 1
            elif event["seq"] > through + 1:
                break
        self.through[device] = through
        confirm = self._envelope("confirm", device)
        confirm.update({"through_seq": through, "in_reply_to": batch["message_id"]})
        if self.sign_key is not None:
            confirm["sig"] = confirm_signature(
                self.sign_key, fleet=self.fleet, device=device, through_seq=through,
                in_reply_to=batch["message_id"],
            )  # fmt: skip
        client.publish(f"lk/v1/{self.fleet}/{device}/confirm", canonical(confirm), qos=1)

    def _envelope(self, kind: str, device: str) -> dict[str, Any]:
        return {"v": 1, "type": kind, "message_id": uuid.uuid4().hex, "fleet": self.fleet,
                "device": device, "sent_at": time.time()}  # fmt: skip

    def send(
        self, device: str, name: str, args: Mapping[str, Any], *, now: float, ttl_s: int = 120
    ) -> str:
        """Publish a command (signed when a key is set); its message id."""
        assert self._client is not None
        command = self._envelope("command", device)
        tx = f"tx-{uuid.uuid4().hex}"
        command.update({"transaction_id": tx, "name": name, "args": dict(args)})
        if self.sign_key is not None:
            command["sig"] = signature(
                self.sign_key, fleet=self.fleet, device=device, name=name, transaction_id=tx,
                args=args, exp=int(now) + ttl_s,
            )  # fmt: skip
        info = self._client.publish(f"lk/v1/{self.fleet}/{device}/cmd", canonical(command), qos=1)
        info.wait_for_publish(10)
        return str(command["message_id"])

    def reply(self, message_id: str, within_s: float = 10.0) -> dict[str, Any]:
        with self._cond:
            assert self._cond.wait_for(lambda: message_id in self._replies, within_s), "no reply"
            return self._replies[message_id]

    def messages(self, leaf: str) -> list[Received]:
        with self._cond:
            return [m for m in self.received if m.leaf == leaf]

    def events(self) -> list[dict[str, Any]]:
        """Every event body received, with its kind, in arrival order (duplicates included)."""
        return [e for m in self.messages("evt") for e in m.body["events"]]
