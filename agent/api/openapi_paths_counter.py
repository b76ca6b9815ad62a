"""The paths of the OpenAPI document for returns, counter mode, the kiosk feed and the demo
(`agent/api/openapi.py` joins them with `openapi_paths.PATHS`)."""

from __future__ import annotations

from agent.api.openapi_paths import (
    _CODE,
    _ID_ASSIST,
    _ID_PARAM,
    _LABEL,
    _ORDER,
    _TOKEN,
    INT,
    _body,
    _op,
)

COUNTER_KIOSK_DEMO_PATHS: dict[str, dict[str, object]] = {
    "/api/v1/returns/start": {
        "post": _op(
            "Start a customer return drop-off with its return code: opens a door",
            "returns",
            body=_body({"code": _CODE, "size": {"enum": ["S", "M", "L"]}}, ["code"]),
            errors=(400, 404, 409, 429, 503),
        )
    },
    "/api/v1/returns/packaging": {
        "post": {
            **_op(
                "Return reusable packaging (no order needed): opens a door, reported for credit",
                "returns",
                body=_body(
                    {
                        "items": {"type": "integer", "minimum": 1, "maximum": 50},
                        "credit_ref": _ORDER,
                    }
                ),
                errors=(400, 409, 429, 503),
            ),
            "description": "No sign-in, so: never takes the last free doors of a size (409 "
            "`DOORS_RESERVED`; `operations.packaging_keep_free_doors` / `_percent`), and at "
            "most 5 openings back to back, then one a minute, 120 a day per origin (kiosk or "
            "network; 429 `RATE_LIMITED` with `Retry-After`), persisted across restarts.",
        }
    },
    "/api/v1/counter/receive": {
        "post": _op(
            "Counter mode: receive a parcel by its label",
            "counter",
            role="staff",
            body=_body({"label": _LABEL}, ["label"]),
            errors=(400, 404, 409),
        )
    },
    "/api/v1/counter/handout": {
        "post": _op(
            "Counter mode: hand out a parcel (the customer's typed code or QR token in `code`, "
            "or the token in `token`; the parcel label; the ID check outcome)",
            "counter",
            role="staff",
            body=_body(
                {
                    "code": _TOKEN,
                    "token": _TOKEN,
                    "label": _LABEL,
                    "id_check": {"enum": ["passed", "failed", "not_possible"]},
                },
                ["label"],
            ),
            errors=(400, 403, 404, 409, 503),
        )
    },
    "/api/v1/counter/id-assist/{order}": {"post": _ID_ASSIST},
    "/api/v1/counter/id-check/document": {
        "post": _op(
            "Counter mode: read the ID document (ICAO 9303 MRZ or AAMVA PDF417) in the counter "
            "camera's current frame for the order the parcel label names; outcomes only, staff "
            "still confirm (docs/identity.md)",
            "counter",
            role="staff",
            body=_body({"label": _LABEL}, ["label"]),
            errors=(400, 404, 503),
        )
    },
    "/api/v1/counter/id-check/wallet": {
        "post": _op(
            "Counter mode: read the wallet's QR device engagement in the counter camera's "
            "current frame and verify the wallet offline for the order the parcel label names "
            "(`wallet.passed`, `wallet.reason`); staff still confirm (docs/identity.md)",
            "counter",
            role="staff",
            body=_body({"label": _LABEL}, ["label"]),
            errors=(400, 404, 503),
        )
    },
    "/api/v1/counter/return": {
        "post": _op(
            "Counter mode: accept a customer return",
            "counter",
            role="staff",
            body=_body({"code": _CODE, "label": _LABEL}, ["code", "label"]),
            errors=(400, 404, 409),
        )
    },
    "/api/v1/kiosk/events": {
        "get": {
            **_op("Recent camera scan results for the kiosk page", "kiosk", errors=(400,)),
            "parameters": [
                {"name": "after", "in": "query", "required": False, "schema": _ID_PARAM}
            ],
        }
    },
    "/api/v1/kiosk/wallet": {
        "get": _op(
            "Whether this locker can check a customer's wallet (`available`): the kiosk then "
            "offers its wallet screen for an age-restricted order",
            "kiosk",
            errors=(),
        )
    },
    "/api/v1/kiosk/layout": {
        "get": _op(
            "The locker's door columns (consecutive doors of one size, numbered from the top, "
            "`low` = reachable seated), for the kiosk's 'where is door N' map",
            "kiosk",
            errors=(),
        )
    },
    "/api/v1/demo/controls": {
        "get": _op("Demo only: buttons that put a token in front of the camera", "demo", errors=())
    },
    "/api/v1/demo/camera": {
        "post": _op(
            "Demo only: show an order's token (on a phone or paper) to the simulated camera",
            "demo",
            body=_body({"order": _ORDER, "carrier": {"enum": ["phone", "paper"]}}),
        )
    },
    "/api/v1/demo/wallet": {
        "get": _op("Demo only: buttons that present a simulated wallet", "demo", errors=()),
        "post": _op(
            "Demo only: a simulated wallet of a person of `age` collects the age-restricted "
            "demo order `order`",
            "demo",
            body=_body({"order": _ORDER, "age": INT}, ["order", "age"]),
            errors=(400, 403, 404, 409, 503),
        ),
    },
    "/api/v1/demo/wallet/camera": {
        "post": _op(
            "Demo only: a simulated wallet of a person of `age` (its issuer trusted or "
            "`unknown`) shows its QR device engagement to the simulated camera",
            "demo",
            body=_body({"age": INT, "issuer": {"enum": ["known", "unknown"]}}, ["age"]),
            errors=(400, 404),
        ),
    },
}
