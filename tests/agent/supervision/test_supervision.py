"""Door supervision sweeps on the simulator with a manual clock, faults injected mid-flow."""

import asyncio

from agent.domain.policy import Attempt, Credential, Setting
from agent.services.pickup import authorise_collect
from agent.store.doors import list_doors
from agent.store.orders import get_order
from tests.agent.supervision.conftest import Locker


async def audit_actions(locker: Locker, door: int) -> list[str]:
    rows = await locker.rows("SELECT action FROM audit WHERE door = ? ORDER BY seq", door)
    return [r[0] for r in rows]


async def test_a_door_opened_without_a_command_raises_forced(locker: Locker) -> None:
    locker.sim.force_open(3)
    assert await locker.sweep(0.25) == ["door.forced"]
    assert await locker.sweep(0.25) == []  # recorded once, not on every poll
    actions = await audit_actions(locker, 3)
    assert actions[-2:] == ["door.sensor", "door.forced"]
    outbox = await locker.rows("SELECT kind FROM outbox WHERE kind = 'door.forced'")
    assert outbox == [("door.forced",)]
    assert (await locker.rows("SELECT sensor FROM doors WHERE number = 3")) == [("open",)]


async def test_a_commanded_pickup_is_not_forced_and_is_confirmed(locker: Locker) -> None:
    order = locker.running.orders[0]
    status, _ = await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 200
    assert await locker.sweep(0.25) == []
    outcome = await locker.rows("SELECT outcome, seen_open_at FROM door_openings")
    assert outcome[0][0] == "seen_open"
    assert outcome[0][1] is not None


async def test_a_door_left_open_gets_a_reminder_then_an_alarm(locker: Locker) -> None:
    order = locker.running.orders[0]
    await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert await locker.sweep(0.25) == []
    assert await locker.sweep(59) == []
    assert await locker.sweep(1) == ["door.left_open"]
    status, body = await locker.get(f"/api/v1/doors/{order.door}/state")
    assert (status, body["state"]) == (200, "left_open")
    assert body["message"] == f"Please close door {order.door}."
    assert await locker.sweep(60) == []
    assert await locker.sweep(60) == ["door.left_open"]
    levels = await locker.rows("SELECT body FROM outbox WHERE kind = 'door.left_open'")
    assert ['"level":"reminder"' in r[0] for r in levels] == [True, False]
    assert '"level":"alarm"' in levels[1][0]
    locker.sim.close_door(order.door)
    assert await locker.sweep(1) == []
    assert ("closed", order.door) in locker.callbacks
    last = await locker.rows("SELECT detail FROM audit WHERE action = 'door.sensor' ORDER BY seq")
    assert '"open_s":181.0' in last[-1][0]
    status, body = await locker.get(f"/api/v1/doors/{order.door}/state")
    assert body["state"] == "closed"


async def test_a_door_that_jams_during_a_pickup_keeps_the_parcel_collectable(
    locker: Locker,
) -> None:
    order = locker.running.orders[1]
    locker.sim.faults(order.door).jammed = True  # the latch pulses, the door does not move
    status, _ = await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 200  # the pulse was delivered; only the sensor can tell
    assert await locker.sweep(1) == []
    status, body = await locker.get(f"/api/v1/doors/{order.door}/state")
    assert body["state"] == "closed"
    assert await locker.sweep(4) == ["door.jammed"]
    assert locker.callbacks == [("fault", order.door)]

    rows = await locker.rows(
        "SELECT state, needs_attention FROM orders WHERE order_id = ?", order.order_id
    )
    assert rows == [("loaded", "door_jammed")]
    assert (await locker.rows("SELECT fault FROM doors WHERE number = ?", order.door)) == [
        ("jammed",)
    ]
    status, body = await locker.get(f"/api/v1/doors/{order.door}/state")
    assert body["state"] == "jammed"
    assert "contact staff" in body["message"]
    assert order.order_id[-6:].upper() in body["message"]

    # A jammed door takes no new parcels, even of its size.
    doors = await locker.running.agent.db.read(list_doors)
    assert not next(d for d in doors if d.number == order.door).assignable

    # Staff clear the fault; the door works again and the same code now collects the parcel.
    locker.sim.faults(order.door).jammed = False
    status, body = await locker.post(f"/api/v1/staff/doors/{order.door}/clear-fault", staff=True)
    assert (status, body["fault"]) == (200, "jammed")
    assert ("cleared", order.door) in locker.callbacks
    status, _ = await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 200
    assert await locker.sweep(0.25) == []
    rows = await locker.rows("SELECT state FROM orders WHERE order_id = ?", order.order_id)
    assert rows == [("collected",)]


async def test_a_jam_unspends_the_token_of_a_scanned_pickup(locker: Locker) -> None:
    order = locker.running.orders[2]
    locker.sim.faults(order.door).jammed = True
    db = locker.running.agent.db
    cti = b"\x01" * 16

    def authorise(conn):  # type: ignore[no-untyped-def]
        found = get_order(conn, order.order_id)
        assert found is not None
        attempt = Attempt(Credential.STATIC_TOKEN, Setting.UNATTENDED)
        now = locker.clock.now()
        return authorise_collect(conn, found, via="token", now=now, attempt=attempt, cti=cti)

    grant = await db.run(authorise)
    await locker.pickup.open_granted(grant)
    assert await locker.rows("SELECT COUNT(*) FROM spent_tokens") == [(1,)]
    assert await locker.sweep(6) == ["door.jammed"]
    assert await locker.rows("SELECT COUNT(*) FROM spent_tokens") == [(0,)]


async def test_a_door_that_opens_after_being_declared_jammed_is_flagged(locker: Locker) -> None:
    order = locker.running.orders[0]
    locker.sim.faults(order.door).jammed = True
    await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert await locker.sweep(6) == ["door.jammed"]
    locker.sim.force_open(order.door)  # the customer pulled hard after all
    assert await locker.sweep(1) == ["door.opened_after_jam"]
    rows = await locker.rows(
        "SELECT needs_attention FROM orders WHERE order_id = ?", order.order_id
    )
    assert rows == [("opened_after_jam",)]


async def test_a_dead_sensor_is_an_alarm_and_its_recovery_is_recorded(locker: Locker) -> None:
    locker.sim.faults(5).sensor_dead = True
    assert await locker.sweep(0.25) == ["door.sensor_dead"]
    assert locker.supervisor.status_section()["sensor_dead"] == [5]
    assert await locker.sweep(0.25) == []
    locker.sim.faults(5).sensor_dead = False
    assert await locker.sweep(0.25) == []
    assert locker.supervisor.status_section()["sensor_dead"] == []
    actions = await audit_actions(locker, 5)
    assert actions[-4:] == [
        "door.sensor",
        "door.sensor_dead",
        "door.sensor",
        "door.sensor_restored",
    ]


async def test_a_sensor_that_dies_mid_pickup_leaves_the_opening_unverified(
    locker: Locker,
) -> None:
    order = locker.running.orders[0]
    locker.sim.faults(order.door).sensor_dead = True
    await locker.post("/api/v1/pickup/code", {"code": order.code})
    assert await locker.sweep(0.25) == ["door.sensor_dead"]
    assert await locker.sweep(6) == []  # no jam declared without a sensor to prove it
    assert await locker.rows("SELECT outcome FROM door_openings") == [("unverified",)]
    rows = await locker.rows("SELECT state FROM orders WHERE order_id = ?", order.order_id)
    assert rows == [("collected",)]


async def test_a_door_forced_while_another_pickup_is_pending(locker: Locker) -> None:
    order = locker.running.orders[0]
    locker.sim.faults(order.door).relay_delay_s = 0.3
    pending = asyncio.create_task(locker.post("/api/v1/pickup/code", {"code": order.code}))
    for _ in range(100):
        if await locker.rows("SELECT 1 FROM door_openings"):
            break
        await asyncio.sleep(0.01)
    other = 20 if order.door != 20 else 21
    locker.sim.force_open(other)
    assert await locker.sweep(0.25) == ["door.forced"]
    assert (await pending)[0] == 200
    assert await locker.sweep(0.25) == []  # the commanded door is not forced
    bodies = await locker.rows("SELECT body FROM outbox WHERE kind = 'door.forced'")
    assert bodies == [(f'{{"door":{other}}}',)]


async def test_a_door_found_open_at_start_is_timed_but_not_forced(locker: Locker) -> None:
    # A door opened while the agent was down: stored closed, read open at the first sweep.
    fresh_sim_door = 7
    locker.sim.force_open(fresh_sim_door)
    locker.supervisor._doors = None  # as after a restart
    assert await locker.sweep(0.25) == ["door.forced"]
    assert await locker.sweep(60) == ["door.left_open"]
