"""paho-mqtt 2.x under asyncio without a network thread (the aiomqtt way, written for our needs).

paho's socket callbacks register its socket with the event loop (`add_reader`/`add_writer`), a 1 s
task runs `loop_misc` (keepalive), and only the blocking `connect()` runs in an executor. Every
publish and subscribe gets a Future matched by message id that is always resolved: by its ack, or
by `ConnectionLostError` when the connection drops. One `MqttConnection` is one connection's
lifetime; reconnecting means building a new one (the caller owns the retry policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub_sync.errors import ConnectionLostError, MqttError

_LOG = logging.getLogger(__name__)
MQTT_V5 = 5
MQTT_V311 = 4


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """CA bundle to trust, and the device's own certificate and key for mutual TLS (optional)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Will:
    """The Last Will the broker publishes if the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class ConnectParams:
    """Everything one MQTT connection needs: broker, client id, credentials, TLS, protocol
    (5 or 3.1.1), session expiry, Last Will, in-flight window and connect timeout."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: TlsSettings | None = None
    keepalive: int = 30
    protocol: int = MQTT_V5
    session_expiry_s: int = 7 * 86_400
    clean_start: bool = False
    will: Will | None = None
    max_inflight: int = 100
    connect_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received message, translated out of paho at once."""

    topic: str
    payload: bytes
    retain: bool


def _failed(rc: ReasonCode | int) -> bool:
    if isinstance(rc, ReasonCode):
        return rc.is_failure
    return rc >= 0x80


class MqttConnection:
    """One MQTT connection driven by the running event loop. Not thread-safe: use from the loop."""

    def __init__(self, params: ConnectParams, on_message: Callable[[Inbound], None]) -> None:
        self._params = params
        self._on_message = on_message
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._connack: asyncio.Future[bool] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._misc: asyncio.Task[None] | None = None
        self._fd: int | None = None
        #: messages dropped because the broker sent a topic that is not UTF-8
        self.bad_topics = 0
        self._client = self._build()

    def _build(self) -> paho.Client:
        p = self._params
        proto = paho.MQTTv5 if p.protocol == MQTT_V5 else paho.MQTTv311
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=p.client_id,
            protocol=proto,
            clean_session=None if p.protocol == MQTT_V5 else p.clean_start,
        )
        if p.username is not None:
            client.username_pw_set(p.username, p.password)
        if p.will is not None:
            client.will_set(p.will.topic, p.will.payload, p.will.qos, p.will.retain)
        client.max_inflight_messages_set(p.max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_ack
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_paho_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return client

    @property
    def connected(self) -> bool:
        """True between CONNACK and the connection's end."""
        return self._connack.done() and not self.closed.done()

    async def connect(self) -> bool:
        """Connect and wait for CONNACK; returns whether the broker kept our session."""
        try:
            await self._loop.run_in_executor(None, self._blocking_connect)
            async with asyncio.timeout(self._params.connect_timeout_s):
                session_present = await self._connack
        except (OSError, ssl.SSLError, ValueError, TimeoutError) as err:
            self._close_quietly()
            raise MqttError(f"connect to {self._params.host}:{self._params.port} failed") from err
        except MqttError:
            self._close_quietly()
            raise
        self._misc = self._loop.create_task(self._misc_loop(), name="mqtt-misc")
        return session_present

    def _blocking_connect(self) -> None:
        p = self._params
        if p.tls is not None:
            self._client.tls_set(ca_certs=p.tls.ca, certfile=p.tls.cert, keyfile=p.tls.key)
        if p.protocol == MQTT_V5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = p.session_expiry_s
            self._client.connect(
                p.host, p.port, p.keepalive, clean_start=p.clean_start, properties=props
            )
        else:
            self._client.connect(p.host, p.port, p.keepalive)

    async def _misc_loop(self) -> None:
        while not self.closed.done():
            self._client.loop_misc()
            await asyncio.sleep(1.0)

    def publish_future(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a publish; the Future resolves on PUBACK (at once for QoS 0)."""
        fut: asyncio.Future[None] = self._loop.create_future()
        if self.closed.done():
            fut.set_exception(ConnectionLostError("not connected"))
            return fut
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            fut.set_exception(ConnectionLostError(f"publish refused: {info.rc}"))
        elif qos == 0:
            fut.set_result(None)
        else:
            self._pending[info.mid] = fut
        return fut

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait for the PUBACK (none for QoS 0); `ConnectionLostError` if it is lost."""
        await self.publish_future(topic, payload, qos, retain)

    async def subscribe(self, filters: Sequence[tuple[str, int]]) -> None:
        """Subscribe and wait for SUBACK; a refused filter raises `MqttError`."""
        fut: asyncio.Future[None] = self._loop.create_future()
        if self.closed.done():
            raise ConnectionLostError("not connected")
        rc, mid = self._client.subscribe(list(filters))
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionLostError(f"subscribe refused: {rc}")
        self._pending[mid] = fut
        await fut

    async def disconnect(self) -> None:
        """Send DISCONNECT (the Last Will is not published) and release the socket."""
        if not self.closed.done():
            self._client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(self.closed)
        self._close_quietly()

    def _close_quietly(self) -> None:
        if self._misc is not None:
            self._misc.cancel()
        if self._fd is not None:
            self._unwatch(self._fd)
            self._fd = None
        with contextlib.suppress(Exception):
            self._client.disconnect()
        # paho closes its socket only from its own loop calls, which stop here: close it now
        sock = self._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._finish(ConnectionLostError("closed"))

    def _finish(self, err: MqttError) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self._connack.done():
            self._connack.set_exception(err)
            self._connack.exception()  # mark retrieved: nobody may be waiting any more
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLostError(str(err)))

    # paho callbacks: run in the loop thread, except the socket ones during connect()

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        if self._connack.done():
            return
        if _failed(rc):
            self._connack.set_exception(MqttError(f"connection refused: {rc}"))
        else:
            self._connack.set_result(bool(flags.session_present))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        _LOG.info("mqtt %s disconnected: %s", self._params.client_id, rc)
        self._finish(ConnectionLostError(f"disconnected: {rc}"))

    def _on_ack(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        fut = self._pending.pop(mid, None)
        if fut is None or fut.done():
            return
        if _failed(rc):
            fut.set_exception(MqttError(f"publish rejected by broker: {rc}"))
        else:
            fut.set_result(None)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        fut = self._pending.pop(mid, None)
        if fut is None or fut.done():
            return
        if any(_failed(rc) for rc in rcs):
            fut.set_exception(MqttError("subscription refused by broker"))
        else:
            fut.set_result(None)

    def _on_paho_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            # a broker that forwards a topic that is not UTF-8 (Mosquitto would not; whoever
            # runs the broker might): `msg.topic` raised here and again in the log call below,
            # out into paho's read loop. No topic we subscribe to looks like that: drop it.
            self.bad_topics += 1
            if self.bad_topics == 1:
                _LOG.warning("dropped a message whose topic is not UTF-8")
            return
        try:
            self._on_message(Inbound(topic=topic, payload=bytes(msg.payload), retain=msg.retain))
        except Exception:
            # a handler bug must not tear down paho's read loop and with it the connection
            _LOG.exception("message handler failed on %s", topic)

    def _call_in_loop(self, fn: Callable[..., object], *args: object) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, _c: Any, _u: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):
            # paho leaves Nagle on: a small reply then waits for a delayed ACK (~40 ms per hop)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._fd = sock.fileno()
        self._call_in_loop(self._loop.add_reader, self._fd, self._read, sock)

    def _read(self, sock: Any) -> None:
        self._client.loop_read()
        if not isinstance(sock, ssl.SSLSocket):
            return
        tls: ssl.SSLSocket = sock
        # TLS may hold whole packets in its buffer where select() cannot see them
        while tls.pending() and self._client.socket() is tls:
            self._client.loop_read()

    def _on_socket_close(self, _c: Any, _u: Any, sock: Any) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            self._call_in_loop(self._unwatch, fd)

    def _unwatch(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)

    def _on_register_write(self, _c: Any, _u: Any, sock: Any) -> None:
        fd = self._fd
        if fd is not None:
            self._call_in_loop(self._add_writer, fd)

    def _add_writer(self, fd: int) -> None:
        if self._fd == fd:
            self._loop.add_writer(fd, self._client.loop_write)

    def _on_unregister_write(self, _c: Any, _u: Any, sock: Any) -> None:
        fd = self._fd
        if fd is not None:
            self._call_in_loop(self._loop.remove_writer, fd)
