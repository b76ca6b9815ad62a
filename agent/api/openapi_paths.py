"""The paths of the OpenAPI document (`agent/api/openapi.py`): every `/api/v1` route with its
parameters, body and answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

STR = {"type": "string"}
INT = {"type": "integer"}


def _text(max_length: int) -> dict[str, object]:
    """A string field as `string_field` enforces it: non-empty, bounded, no control characters."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$",
    }


_CODE = _text(64)
_TOKEN = _text(4096)
_LABEL = _text(256)
_ORDER = _text(64)
_DOOR_NUMBER = {"type": "integer", "minimum": 1, "maximum": 999_999}
_BOOL = {"type": "boolean"}
_OBJ = {"type": "object"}


def _body(props: dict[str, object], required: Sequence[str] = ()) -> dict[str, object]:
    schema: dict[str, object] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    tag: str,
    *,
    body: dict[str, object] | None = None,
    role: str | None = None,
    params: Sequence[str] = (),
    errors: Sequence[int] = (400,),
    ok: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """One operation: JSON result on 200, the shared error shape on each status in `errors`."""
    responses: dict[str, object] = {
        "200": {
            "description": "Done",
            "content": {
                "application/json": {"schema": ok or {"$ref": "#/components/schemas/Result"}}
            },
        }
    }
    statuses = sorted({*errors, 401} if role else set(errors))
    if body is not None:
        statuses = sorted({*statuses, 400, 408, 413, 415})
    for status in statuses:
        responses[str(status)] = {"$ref": "#/components/responses/Error"}
    op: dict[str, object] = {"summary": summary, "tags": [tag], "responses": responses}
    if role:
        op["security"] = [{"session": []}]
        op["description"] = f"Requires a session with the `{role}` role."
    if body is not None:
        op["requestBody"] = body
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": _ID_PARAM} for p in params
        ]
    return op


_ID_PARAM = {"type": "integer", "minimum": 0, "maximum": 999_999_999_999}
_DOOR = {"name": "door", "in": "path", "required": True, "schema": _DOOR_NUMBER}
_REASON_TEXT = _text(200)
_REASON = _body({"reason": _REASON_TEXT})


def _door_op(
    summary: str,
    role: str | None,
    *,
    body: dict[str, object] | None = None,
    errors: Sequence[int] = (404,),
    ok: Mapping[str, object] | None = None,
) -> dict[str, object]:
    tag = "doors" if role is None else "staff"
    op = _op(summary, tag, role=role, body=body, errors=errors, ok=ok)
    op["parameters"] = [_DOOR]
    return op


_ID_ASSIST = {
    **_op(
        "Counter mode: read an ID document (MRZ or AAMVA PDF417) from a camera frame for an "
        "order; answers outcomes only (staff still record the ID check)",
        "counter",
        role="staff",
        params=("order",),
        errors=(400, 404, 503),
    ),
    "requestBody": {
        "required": True,
        "content": {"image/png": {"schema": {}}, "image/jpeg": {"schema": {}}},
    },
}

PATHS: dict[str, dict[str, object]] = {
    "/api/v1/health": {"get": _op("Liveness: locker id and agent version", "status", errors=())},
    "/api/v1/status": {
        "get": _op(
            "Doors, order counts, outbox depth, clock trust, versions, supervision and camera",
            "status",
            errors=(),
        )
    },
    "/api/v1/openapi.json": {"get": _op("This document", "status", errors=(), ok=_OBJ)},
    "/api/v1/pickup/code": {
        "post": _op(
            "Collect by typed code; within the grace period the same code reopens the door once",
            "pickup",
            body=_body({"code": _CODE}, ["code"]),
            errors=(400, 404, 409, 429, 503),
        )
    },
    "/api/v1/pickup/scan": {
        "post": _op(
            "Collect by a scanned signed token",
            "pickup",
            body=_body({"payload": _TOKEN}, ["payload"]),
            errors=(400, 403, 404, 409, 503),
        )
    },
    "/api/v1/pickup/wallet": {
        "post": _op(
            "Collect an age-restricted order: the customer's typed code (`code`) or token "
            "(`payload`, or the kiosk feed's `wallet_ticket` for a token the camera read as "
            "`ticket`) and the wallet's QR device engagement (`engagement`, `mdoc:...`), "
            "verified offline (docs/identity.md)",
            "pickup",
            body=_body(
                {"code": _CODE, "payload": _TOKEN, "ticket": _CODE, "engagement": _TOKEN},
                ["engagement"],
            ),
            errors=(400, 403, 404, 409, 429, 503),
        )
    },
    "/api/v1/pickup/door-did-not-open": {
        "post": _op(
            "Report that the door did not open (same code, or after a camera pickup the "
            "`help_ticket` of its kiosk feed outcome, within the grace period). Result: "
            "jammed (door faulted, parcel stays collectable), open, was_open, unknown, collectable",
            "pickup",
            body=_body({"code": _CODE, "ticket": _CODE}),
            errors=(400, 404, 409, 429),
            ok={"$ref": "#/components/schemas/HelpOutcome"},
        )
    },
    "/api/v1/pickup/parcel-damaged": {
        "post": _op(
            "Report that the parcel is damaged (same code, or a camera pickup's `help_ticket`, "
            "within 5 minutes of the opening): the compartment is photographed (evidence photo) "
            "and order.damage_reported sent. Result: recorded, with door, photo (bool), ref",
            "pickup",
            body=_body({"code": _CODE, "ticket": _CODE}),
            errors=(400, 404, 409, 429),
        )
    },
    "/api/v1/doors/{door}/state": {
        "get": _door_op(
            "A door's state for the kiosk to poll after a pickup: "
            "closed, open, left_open, jammed, out_of_service, unknown",
            None,
            errors=(404,),
            ok={"$ref": "#/components/schemas/DoorStatus"},
        )
    },
    "/api/v1/staff/sign-in": {
        "post": _op(
            "Sign in with a staff or courier PIN, or a hub-issued courier/staff token; "
            "returns a session",
            "staff",
            body=_body({"pin": _text(32), "token": _TOKEN}),
            errors=(400, 401, 429),
        )
    },
    "/api/v1/staff/sign-out": {"post": _op("End the session", "staff", role="staff or courier")},
    "/api/v1/staff/doors/{door}/photo": {
        "post": _door_op(
            "Take a C2PA-signed evidence photo of a door's compartment (docs/evidence.md)",
            "staff",
            errors=(400, 503),
        )
    },
    "/api/v1/staff/evidence": {
        "get": _op(
            "An order's evidence photos (`?order=REF`): event, door, time, SHA-256, occupied, "
            "the audit entry each names",
            "staff",
            role="staff",
            errors=(400, 401),
        )
    },
    "/api/v1/staff/evidence/{photo}": {
        "get": _op(
            "One evidence photo, the signed JPEG (image/jpeg)",
            "staff",
            role="staff",
            params=("photo",),
            errors=(400, 401, 404),
        )
    },
    "/api/v1/staff/evidence/{photo}/thumb": {
        "get": _op(
            "A 320-pixel-wide preview of an evidence photo for the staff screen (image/jpeg; "
            "not signed: the evidence is the full photo)",
            "staff",
            role="staff",
            params=("photo",),
            errors=(400, 401, 404),
        )
    },
    "/api/v1/staff/inventory": {
        "get": _op(
            "Doors with their orders, states, flags and needs_attention", "staff", role="staff"
        )
    },
    "/api/v1/staff/handout": {
        "post": _op(
            "Open an order's door for its customer and hand it out, under the order policy "
            "table (an ID-check order needs `id_check`: passed)",
            "staff",
            role="staff",
            body=_body(
                {"order": _ORDER, "id_check": {"enum": ["passed", "failed", "not_possible"]}},
                ["order"],
            ),
            errors=(400, 401, 403, 404, 409, 503),
        )
    },
    "/api/v1/staff/doors/{door}/open": {
        "post": _door_op(
            "Open a door with a reason (audited with the staff id)",
            "staff",
            body=_body({"reason": _REASON_TEXT}, ["reason"]),
            errors=(400, 404, 503),
        )
    },
    "/api/v1/staff/doors/{door}/enable": {
        "post": _door_op("Put a door back into assignment", "staff", body=_REASON, errors=(404,))
    },
    "/api/v1/staff/doors/{door}/disable": {
        "post": _door_op("Take a door out of assignment", "staff", body=_REASON, errors=(404,))
    },
    "/api/v1/staff/doors/{door}/clear-fault": {
        "post": _door_op("Clear a door's fault (e.g. jammed)", "staff", errors=(404, 409))
    },
    "/api/v1/courier/load": {
        "post": _op(
            "Start loading a parcel by its label: opens the assigned door",
            "courier",
            role="courier or staff",
            body=_body({"label": _LABEL, "size": {"enum": ["S", "M", "L"]}}, ["label"]),
            errors=(400, 404, 409, 503),
        )
    },
    "/api/v1/courier/load/{load}/confirm": {
        "post": _op(
            "Confirm a load once the door is closed",
            "courier",
            role="courier or staff",
            params=("load",),
            errors=(404, 409),
        )
    },
    "/api/v1/courier/load/{load}/too-small": {
        "post": _op(
            "The door is too small: open the next size up",
            "courier",
            role="courier or staff",
            params=("load",),
            errors=(404, 409, 503),
        )
    },
    "/api/v1/courier/load/{load}/cancel": {
        "post": _op(
            "Cancel a pending load",
            "courier",
            role="courier or staff",
            params=("load",),
            errors=(404, 409),
        )
    },
    "/api/v1/courier/pickups": {
        "get": _op("Expired parcels and returns to take away", "courier", role="courier or staff")
    },
    "/api/v1/courier/loads": {
        "get": _op(
            "Loads started but not confirmed yet (oldest first)", "courier", role="courier or staff"
        )
    },
    "/api/v1/courier/collect": {
        "post": _op(
            "Take an expired parcel or a return out of its door (by door or order)",
            "courier",
            role="courier or staff",
            body=_body({"door": _DOOR_NUMBER, "order": _ORDER}),
            errors=(400, 404, 409, 503),
        )
    },
}
