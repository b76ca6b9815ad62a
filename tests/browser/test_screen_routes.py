"""The screens' files and the kiosk's door layout over plain HTTP (no browser needed)."""

from __future__ import annotations

from tests.agent.conftest import RunningAgent


async def _get(locker: RunningAgent, path: str) -> tuple[int, str, str]:
    async with locker.http.get(locker.url + path) as response:
        return response.status, response.content_type, await response.text()


async def test_every_screen_and_its_words_are_served(locker: RunningAgent) -> None:
    for path, marker in (
        ("/", 'id="code"'),
        ("/courier", 'id="load-form"'),
        ("/counter", 'id="handout-form"'),
        ("/staff", 'id="doors"'),
    ):
        status, kind, text = await _get(locker, path)
        assert (status, kind) == (200, "text/html"), path
        assert marker in text, path
    for lang in ("en", "de", "pl", "fr"):
        status, kind, _ = await _get(locker, f"/kiosk/i18n/{lang}.json")
        assert (status, kind) == (200, "application/json")
    for bad in (
        "/kiosk/i18n/..%2fkiosk.js",
        "/kiosk/i18n/xx.json",
        "/kiosk/i18n/en.py",
        "/kiosk/" + "a" * 300 + ".js",
        "/kiosk/%C3%A9.js",
    ):
        status, _, text = await _get(locker, bad)
        assert status == 404, bad
        assert "Traceback" not in text


async def test_the_layout_gives_the_door_columns_from_the_top(locker: RunningAgent) -> None:
    status, body = await locker.get("/api/v1/kiosk/layout")
    assert status == 200
    columns = body["columns"]
    assert isinstance(columns, list)
    assert [c["size"] for c in columns] == ["S", "M", "L"]
    first = columns[0]["doors"]
    assert [d["door"] for d in first] == list(range(1, 9))
    assert [d["low"] for d in first] == [False] * 6 + [True] * 2
