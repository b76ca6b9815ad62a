"""The hub's HTTP API: order intake for the operator's order system, `/metrics`, OpenAPI.

    POST /v1/orders                      create: returns the QR token and typed code ONCE
    POST /v1/orders/{id}/cancel|extend|redirect
    GET  /v1/orders/{id}                 state, commands and their answers, the locker's events
    GET  /v1/fleet                       fleet status (what `locker-admin fleet status` shows)
    GET  /metrics                        Prometheus text (prometheus-client), no auth
    GET  /openapi.json                   this API, no auth

`/v1/*` needs `Authorization: Bearer <api key>`. Refusals are JSON `{"reason", "detail"}` with a
4xx status; the token and code are never logged or stored.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from hub_sync.errors import OrderError
from hub_sync.hub.openapi import OPENAPI
from hub_sync.hub.orders import NewOrder, OrderService
from hub_sync.hub.status import fleet_status

_LOG = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SERVICE: web.AppKey[OrderService] = web.AppKey("orders", OrderService)
POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)
FLEET: web.AppKey[str] = web.AppKey("fleet", str)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")


def _refuse(status: int, reason: str, detail: str = "") -> web.Response:
    return web.json_response({"reason": reason, "detail": detail}, status=status)


def make_app(
    service: OrderService, pool: asyncpg.Pool, fleet: str, api_key: str,
    *, clock: Callable[[], float] = time.time,
) -> web.Application:  # fmt: skip
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v1/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return _refuse(401, "UNAUTHORIZED")
        try:
            return await handler(request)
        except OrderError as err:
            _LOG.info("order request refused: %s", err.reason)
            return _refuse(err.status, err.reason, err.detail)

    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app[SERVICE], app[POOL], app[FLEET], app[CLOCK] = service, pool, fleet, clock
    app.router.add_post("/v1/orders", _create)
    app.router.add_post("/v1/orders/{order_id}/{action:cancel|extend|redirect}", _change)
    app.router.add_get("/v1/orders/{order_id}", _get)
    app.router.add_get("/v1/fleet", _fleet)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/openapi.json", _openapi)
    return app


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise OrderError("BAD_REQUEST", 400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise OrderError("BAD_REQUEST", 400, "the body is not a JSON object")
    return body


async def _create(request: web.Request) -> web.Response:
    order = NewOrder.parse(await _body(request))
    return web.json_response(await request.app[SERVICE].create(order), status=201)


async def _change(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    order_id, action = request.match_info["order_id"], request.match_info["action"]
    body = await _body(request)
    if action == "cancel":
        result = await service.cancel(order_id, body)
    elif action == "extend":
        result = await service.extend(order_id, body)
    else:
        result = await service.redirect(order_id, body)
    return web.json_response(result, status=202)


async def _get(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SERVICE].get(request.match_info["order_id"]))


async def _fleet(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        status = await fleet_status(conn, request.app[FLEET], request.app[CLOCK]())
    return web.json_response(status.as_dict())


async def _openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


async def _metrics(request: web.Request) -> web.Response:
    fleet = request.app[FLEET]
    async with request.app[POOL].acquire() as conn:
        s = await fleet_status(conn, fleet, request.app[CLOCK]())
    reg = CollectorRegistry()
    lk = ["fleet", "locker"]

    def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
        return Gauge(name, doc, labels, registry=reg)

    online = gauge("lkhub_locker_online", "1 when the locker's status is online", lk)
    offline = gauge("lkhub_locker_offline_seconds", "time since the locker went offline", lk)
    depth = gauge("lkhub_locker_outbox_depth", "events waiting in the locker's outbox", lk)
    occupied = gauge("lkhub_locker_doors_occupied", "occupied doors (from its state)", lk)
    doors = gauge("lkhub_locker_doors", "doors (from its state)", lk)
    trust_age = gauge("lkhub_locker_trust_age_seconds", "age of its installed bundle", lk)
    cmds = gauge("lkhub_locker_commands_pending", "commands not answered yet", lk)
    cmd_age = gauge("lkhub_locker_command_oldest_seconds", "oldest unanswered command", lk)
    for lock in s.lockers:
        key = (fleet, lock.locker)
        online.labels(*key).set(1 if lock.online else 0)
        offline.labels(*key).set(lock.offline_s or 0)
        cmds.labels(*key).set(lock.pending_commands)
        cmd_age.labels(*key).set(lock.oldest_command_s or 0)
        for g, v in ((depth, lock.outbox_depth), (occupied, lock.occupied), (doors, lock.doors),
                     (trust_age, lock.trust_age_s)):  # fmt: skip
            if v is not None:
                g.labels(*key).set(v)
    alarms = gauge("lkhub_alarms_open", "open alarms by kind", ["fleet", "kind"])
    for kind, n in s.alarms.items():
        alarms.labels(fleet, kind).set(n)
    orders = gauge("lkhub_orders", "orders by state", ["fleet", "state"])
    for state, n in s.orders.items():
        orders.labels(fleet, state).set(n)
    events = gauge("lkhub_events_stored", "events stored by kind", ["fleet", "kind"])
    for kind, n in s.events.items():
        events.labels(fleet, kind).set(n)
    sla = gauge("lkhub_orders_collected", "collected orders by SLA", ["fleet", "sla"])
    sla.labels(fleet, "in_time").set(s.sla_collected_in_time)
    sla.labels(fleet, "late").set(s.sla_collected_late)
    if s.dwell_p50_s is not None:
        gauge("lkhub_dwell_p50_seconds", "median announce-to-collect", ["fleet"]).labels(fleet).set(
            s.dwell_p50_s
        )
    return web.Response(body=generate_latest(reg), content_type="text/plain")
