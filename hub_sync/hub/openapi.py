"""The OpenAPI 3.1 document of the hub's HTTP API (served at /openapi.json)."""

from __future__ import annotations

from typing import Any, Final

_ERR = {"$ref": "#/components/schemas/Refusal"}
_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _resp(desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


_REFUSALS = {
    "400": _resp("bad request (reason BAD_REQUEST)", _ERR),
    "401": _resp("missing or wrong API key", _ERR),
    "404": _resp("unknown order (ORDER_UNKNOWN)", _ERR),
    "409": _resp("ORDER_EXISTS or ILLEGAL_TRANSITION", _ERR),
}


def _change(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": [_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"202": _resp("command queued", {"$ref": "#/components/schemas/Queued"}),
                          **_REFUSALS},
        }
    }  # fmt: skip


OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {"title": "locker fleet hub", "version": "1"},
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Refusal": {"type": "object", "required": ["reason"],
                        "properties": {"reason": {"type": "string"},
                                       "detail": {"type": "string"}}},
            "NewOrder": {
                "type": "object", "required": ["order_id", "locker", "size", "hold_s"],
                "properties": {
                    "order_id": {"type": "string", "maxLength": 64,
                                 "description": "opaque reference, no personal data"},
                    "locker": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                    "size": {"enum": ["S", "M", "L"]},
                    "hold_s": {"type": "integer", "minimum": 1, "maximum": 2592000},
                    "policy": {"type": "object", "properties": {
                        "id_check": {"type": "boolean"}, "high_value": {"type": "boolean"},
                        "accessible": {"type": "boolean"}}},
                },
            },
            "Handout": {
                "type": "object",
                "description": "returned once: the hub keeps neither the token nor the code",
                "properties": {"order_id": {"type": "string"}, "locker": {"type": "string"},
                               "command_id": {"type": "string"},
                               "token": {"type": "string", "description": "LK1: QR token"},
                               "code": {"type": "string", "description": "8-character typed code"}},
            },
            "Queued": {"type": "object", "properties": {"order_id": {"type": "string"},
                                                        "locker": {"type": "string"},
                                                        "command_id": {"type": "string"}}},
            "Order": {"type": "object", "properties": {
                "order_id": {"type": "string"}, "locker": {"type": "string"},
                "state": {"enum": ["announced", "cancelled"]},
                "commands": {"type": "array", "items": {"type": "object", "properties": {
                    "command_id": {"type": "string"}, "name": {"type": "string"},
                    "status": {"enum": ["pending", "ok", "nack"]},
                    "reason": {"type": ["string", "null"]}}}},
                "events": {"type": "array", "items": {"type": "object"}}}},
        },
    },
    "security": [{"apiKey": []}],
    "paths": {
        "/v1/orders": {"post": {
            "summary": "create an order at a locker; returns its token and typed code once",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NewOrder"}}}},
            "responses": {"201": _resp("created", {"$ref": "#/components/schemas/Handout"}),
                          **_REFUSALS}}},
        "/v1/orders/{order_id}": {"get": {
            "summary": "the order, its commands with the locker's answers, and its events",
            "parameters": [_ID],
            "responses": {"200": _resp("the order", {"$ref": "#/components/schemas/Order"}),
                          **_REFUSALS}}},
        "/v1/orders/{order_id}/cancel": _change("cancel", {
            "type": "object", "required": ["reason"],
            "properties": {"reason": {"type": "string", "maxLength": 200}}}),
        "/v1/orders/{order_id}/extend": _change("extend the hold", {
            "type": "object", "required": ["extend_s"],
            "properties": {"extend_s": {"type": "integer", "minimum": 1, "maximum": 2592000}}}),
        "/v1/orders/{order_id}/redirect": _change(
            "give it up at its locker and announce it at another (new token and code, 202)", {
                "type": "object", "required": ["locker", "reason"],
                "properties": {"locker": {"type": "string"},
                               "reason": {"type": "string", "maxLength": 200}}}),
        "/v1/fleet": {"get": {"summary": "fleet status and KPIs",
                              "responses": {"200": _resp("status", {"type": "object"})}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [],
                             "responses": {"200": {"description": "text exposition"}}}},
    },
}  # fmt: skip
