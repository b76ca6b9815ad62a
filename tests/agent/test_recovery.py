import sqlite3
from pathlib import Path

from agent.services.pickup import TYPED_AT_DOOR, authorise_collect
from agent.store.orders import get_order
from tests.agent.conftest import start_agent


async def test_a_crash_between_authorising_and_the_door_never_opens_twice(
    tmp_path: Path,
) -> None:
    first = await start_agent(tmp_path / "data")
    order = first.orders[0]

    def authorise_only(conn: sqlite3.Connection) -> None:
        found = get_order(conn, order.order_id)
        assert found is not None
        now = first.clock.now()
        authorise_collect(
            conn, found, via="typed_code", now=now, attempt=TYPED_AT_DOOR, cti=b"x" * 16
        )

    # The transaction commits, then the process "dies" before the door command.
    await first.agent.db.run(authorise_only)
    await first.close()

    second = await start_agent(tmp_path / "data", clock=first.clock)
    try:
        status, body = await second.post("/api/v1/pickup/code", {"code": order.code})
        assert status == 409
        # staff decide about an opening a crash cut off: the code says so, and opens nothing
        assert body["error"] == "OPENING_UNCONFIRMED"
        status, body = await second.post("/api/v1/pickup/door-did-not-open", {"code": order.code})
        assert (status, body["error"]) == (409, "OPENING_UNCONFIRMED")
        assert second.sim.pulses == []
        conn = sqlite3.connect(second.agent.config.database_path)
        flagged = conn.execute(
            "SELECT needs_attention FROM orders WHERE order_id = ?", (order.order_id,)
        ).fetchone()[0]
        openings = conn.execute("SELECT result FROM door_openings").fetchall()
        events = [r[0] for r in conn.execute("SELECT kind FROM outbox")]
        conn.close()
        assert flagged == "door_open_interrupted"
        assert openings == [("interrupted",)]
        assert "door.open_interrupted" in events
    finally:
        await second.close()
