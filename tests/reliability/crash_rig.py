"""The crash loop: the real `locker-agent run` SIGKILLed at random points of real traffic.

One rig = a real Mosquitto (per-device passwords and ACL), the reference hub in this process
(signing with the fleet's command key, storing events in its own SQLite file) and the agent as a
child process on a real SQLite file with simulated doors. Each cycle starts the agent, lets a
seeded random workload run against it (hub `order.upsert`/`extend`/`cancel`, courier loads,
pickups by typed code and by token, "my door did not open", return drop-offs; sync runs all the
time), SIGKILLs it at a random moment, then checks what a crash must never break:

- `locker-agent db check` and `locker-agent audit verify` pass;
- no order's parcel was handed out twice (door openings of purpose `pickup` per order);
- every spent token points at a door opening of its own order;
- the hub's store holds each event once, with gapless sequence numbers.

After the last kill the agent runs once more until its outbox is empty; then every event the
agent journalled (its audit log holds the same kind and body) must be in the hub exactly once.
`tests/reliability/test_crash_loop.py` runs 50 kills; `bench/chaos.py` runs the long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from agent.cli.main import db_command
from agent.config.loader import load_config
from agent.errors import AgentError
from agent.services.sessions import hash_pin
from agent.store.audit import device_key_path
from agent.store.audit_verify import verify_command
from agent.tokens.typed_codes import display_code, new_typed_code
from provisioning.fleet import DemoFleet, create_demo_fleet
from tests.hub_sync.conftest import FLEET, HUB_PASSWORD, HUB_USER, Broker, RunningHub, free_port
from tests.integration.conftest import hub_events, start_hub, stop_hub
from tests.integration.test_hub_commands import code_material
from tests.reliability.chaos_records import (
    AGENT_ID,
    Figures,
    agent_records,
    journal_vs_hub,
    outbox_depth,
    pending_commands,
)

COURIER_PIN = "482913"
HOLD_S = 3 * 86_400
_OPEN_RETURNS = 12  # typed return codes announced by the hub and not yet dropped off, at most
_KILL_AFTER_S = (0.02, 1.0)  # the kill lands this long after the agent answered HTTP
_WORKERS = 3
# the children run a little below this process, so that on a busy machine the test's own event
# loop (hub, workers, checks) is not starved by the agent it starts (`nice` execs: same pid)
_NICE = ("nice", "-n", "5")


@dataclass(slots=True)
class Parcel:
    order_id: str
    code: str
    token: str
    stage: str = "announced"  # then "loaded", "collected" (as far as the answers told us)
    collected_by_code: bool = False


class CrashRig:
    """Builds the broker, fleet, config and hub in `root`; `cycle()` is one start-work-kill."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.figures = Figures(seed)
        self.data_dir = root / "data"
        self.config = root / "agent.toml"
        self.log = root / "agent.log"
        self.api_port = free_port()
        self.key = bytes(self.rng.getrandbits(8) for _ in range(32))
        self.broker = Broker(root=root / "broker", port=free_port())
        self.fleet: DemoFleet | None = None
        self.hub: RunningHub | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.parcels: dict[str, Parcel] = {}
        self.returns: list[str] = []  # typed return codes the hub announced (`return.expect`)
        self._dropped: set[str] = set()
        self._next_order = 0
        self._reported: set[str] = set()
        # what a subclass may change (the deployed-agent soak runs the camera, doors that shut)
        self.camera_section = "[camera]\nenabled = false\n"
        self.doors_section = '[doors.driver]\ntype = "simulator"\n'
        self.child_env: dict[str, str] = {}

    # -- setup -----------------------------------------------------------------------------
    async def __aenter__(self) -> CrashRig:
        (self.root / "broker").mkdir(parents=True)
        self.broker.passwords = {HUB_USER: HUB_PASSWORD, AGENT_ID: "pw-agent"}
        self.broker.write_config()
        self.broker.start()
        self.fleet = await asyncio.to_thread(
            create_demo_fleet, self.root / "fleet", AGENT_ID, time.time()
        )
        await asyncio.to_thread(self._write_config, self.fleet)
        self.hub = await start_hub(
            self.broker, self.root / "hub.db", sign_key=self.fleet.command_key,
            agent_data=self.data_dir,
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.kill)
        if self.hub is not None:
            await stop_hub(self.hub)
        self.broker.kill()

    def _write_config(self, fleet: DemoFleet) -> None:
        secrets = self.root / "secrets"
        secrets.mkdir()
        password = secrets / "mqtt-password"
        password.write_text("pw-agent\n")
        key_file = secrets / "typed-code.key"
        key_file.write_text(self.key.hex() + "\n")
        for f in (password, key_file):
            f.chmod(0o600)
        roots = ", ".join(f'"{p}"' for p in fleet.root_public_paths)
        self.config.write_text(
            f'[locker]\nid = "{AGENT_ID}"\ndata_dir = "{self.data_dir}"\n\n'
            f'[api]\nhost = "127.0.0.1"\nport = {self.api_port}\n\n'
            f"{self.camera_section}\n{self.doors_section}\n"
            "[supervision]\npoll_ms = 50\n\n"
            f'[typed_codes]\nkey_file = "{key_file}"\n\n'
            f'[trust]\nroot_keys = [{roots}]\nbundle = "{fleet.bundle_path}"\n\n'
            f'[hub]\nurl = "mqtt://127.0.0.1:{self.broker.port}"\nfleet = "{FLEET}"\n'
            f'username = "{AGENT_ID}"\npassword_file = "{password}"\n\n'
            f'[[staff]]\nactor = "courier-1"\nrole = "courier"\n'
            f'pin_hash = "{hash_pin(COURIER_PIN)}"\n',
            encoding="utf-8",
        )

    # -- the agent process -----------------------------------------------------------------
    def spawn(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*_NICE, sys.executable, "-m", "agent", "run", "--config", str(self.config)],
                stdout=out, stderr=out,
                env={**os.environ, **self.child_env, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    async def wait_ready(self, http: aiohttp.ClientSession, within_s: float = 30) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"the agent exited at start:\n{self._log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(self.url("/api/v1/health")) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the agent did not answer HTTP:\n{self._log_tail()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port}{path}"

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    # -- one cycle -------------------------------------------------------------------------
    async def cycle(self, *, kill: bool = True) -> None:
        started = time.monotonic()
        await asyncio.to_thread(self.spawn)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await self.wait_ready(http)
            self.figures.restart_s.append(time.monotonic() - started)
            if not kill:
                return
            status, body = await self._post(http, "/api/v1/staff/sign-in", {"pin": COURIER_PIN})
            session = str(body["session"]) if status == 200 else None
            workers = [
                asyncio.create_task(self._work(http, session, first=i == 0), name=f"chaos-{i}")
                for i in range(_WORKERS)
            ]
            await asyncio.sleep(self.rng.uniform(*_KILL_AFTER_S))
            await asyncio.to_thread(self.kill)
            self.figures.kills += 1
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        await self.check_after_kill()

    async def _work(self, http: aiohttp.ClientSession, session: str | None, *, first: bool) -> None:
        """Random operations until the agent dies under it (connection errors end the worker)."""
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            if first and session is not None:
                await self._finish_loads(http, session)
            while True:
                op = self.rng.choices(
                    (
                        "announce",
                        "load",
                        "code",
                        "token",
                        "dno",
                        "return",
                        "collect",
                        "extend",
                        "cancel",
                        "expect",
                    ),
                    weights=(3, 4, 4, 4, 1, 2, 2, 1, 0.3, 1),
                )[0]
                self.figures.ops[op] += 1
                if await self._do(op, http, session):
                    self.figures.ok[op] += 1
                await asyncio.sleep(self.rng.uniform(0.0, 0.04))

    async def _do(self, op: str, http: aiohttp.ClientSession, session: str | None) -> bool:
        table = {
            "announce": self._announce,
            "extend": lambda: self._hub_change("extend"),
            "cancel": lambda: self._hub_change("cancel"),
            "return": lambda: self._drop_return(http),
            "code": lambda: self._pickup("code", http),
            "token": lambda: self._pickup("token", http),
            "dno": lambda: self._door_did_not_open(http),
            "collect": lambda: self._collect(http, session),
            "load": lambda: self._load(http, session, self._some_parcel("announced")),
            "expect": self._expect_return,
        }
        return await table[op]()

    async def _expect_return(self) -> bool:
        """The hub announces a customer return with its typed return code (`return.expect`)."""
        assert self.hub is not None
        if len(self.returns) - len(self._dropped) >= _OPEN_RETURNS:
            return False
        code = display_code(new_typed_code(self.rng))
        args = {"order_ref": f"RET-{len(self.returns):05d}", "size": "S",
                "code": code_material(code, self.key)}  # fmt: skip
        self.returns.append(code)
        await self.hub.hub.send_command(AGENT_ID, "return.expect", args)
        return True

    async def _drop_return(self, http: aiohttp.ClientSession) -> bool:
        # mostly a return the hub announced and nobody dropped off yet; sometimes one done
        if not self.returns:
            return False
        code = self.rng.choice(self.returns[-2 * _OPEN_RETURNS :])
        ok = (await self._post(http, "/api/v1/returns/start", {"code": code}))[0] == 200
        if ok:
            self._dropped.add(code)
        return ok

    async def _pickup(self, op: str, http: aiohttp.ClientSession) -> bool:
        # mostly a parcel waiting in its door; sometimes one already collected (never twice)
        parcel = self._some_parcel("loaded" if self.rng.random() < 0.85 else "collected")
        if parcel is None:
            return False
        if op == "code":
            status, _ = await self._post(http, "/api/v1/pickup/code", {"code": parcel.code})
        else:
            status, _ = await self._post(http, "/api/v1/pickup/scan", {"payload": parcel.token})
        if status == 200:
            parcel.stage = "collected"
            parcel.collected_by_code |= op == "code"
        return status == 200

    async def _door_did_not_open(self, http: aiohttp.ClientSession) -> bool:
        """ "My door did not open" on an order just collected by code (after a crash, too)."""
        done = [p for p in self.parcels.values() if p.collected_by_code]
        if not done:
            return False
        code = self.rng.choice(done[-5:]).code
        status, _ = await self._post(http, "/api/v1/pickup/door-did-not-open", {"code": code})
        if status == 200:
            # and then the code again, as a customer who says so would: never a second handout
            await self._post(http, "/api/v1/pickup/code", {"code": code})
        return status == 200

    def _some_parcel(self, stage: str | None = None) -> Parcel | None:
        # a load left open by a kill is confirmed by the supervisor when the restarted agent
        # reads its door shut, so "loading" parcels are worth a try too
        stages = {stage, "loading"} if stage == "loaded" else {stage}
        fitting = [p for p in self.parcels.values() if stage is None or p.stage in stages]
        return self.rng.choice(fitting[-60:]) if fitting else None

    async def _announce(self) -> bool:
        assert self.hub is not None
        assert self.fleet is not None
        if sum(p.stage == "announced" for p in self.parcels.values()) >= 12:
            return False  # parcels are announced about as fast as couriers bring them
        self._next_order += 1
        order_id = f"CH-{self._next_order:06d}"
        code = display_code(new_typed_code(self.rng))
        args = {"order_id": order_id, "size": self.rng.choice("SML"), "hold_s": HOLD_S,
                "policy": {}, "code": code_material(code, self.key)}  # fmt: skip
        token = self.fleet.mint_pickup(order_id, now=time.time(), hold_s=HOLD_S)
        self.parcels[order_id] = Parcel(order_id, code, token)
        await self.hub.hub.send_command(AGENT_ID, "order.upsert", args)
        return True

    async def _hub_change(self, op: str) -> bool:
        parcel = self._some_parcel()
        if parcel is None or self.hub is None:
            return False
        if op == "extend":
            args: dict[str, object] = {"order_id": parcel.order_id, "extend_s": 3600}
            name = "order.extend"
        else:
            args, name = {"order_id": parcel.order_id, "reason": "chaos"}, "order.cancel"
        await self.hub.hub.send_command(AGENT_ID, name, args)
        return True

    async def _load(
        self, http: aiohttp.ClientSession, session: str | None, parcel: Parcel | None
    ) -> bool:
        if session is None or parcel is None:
            return False
        auth = {"Authorization": f"Bearer {session}"}
        label = {"label": f"PCL:{parcel.order_id}:P1"}
        status, body = await self._post(http, "/api/v1/courier/load", label, auth)
        if status != 200:
            return False
        parcel.stage = "loading"
        confirm = f"/api/v1/courier/load/{body['load']}/confirm"
        # the simulated door stays open until the agent restarts (nobody here can shut it): the
        # confirm is refused now and done by the next incarnation's courier (`_finish_loads`)
        if (await self._post(http, confirm, {}, auth))[0] == 200:
            parcel.stage = "loaded"
        return True

    async def _collect(self, http: aiohttp.ClientSession, session: str | None) -> bool:
        """A courier takes out a return, a cancelled or an expired parcel (frees its door)."""
        if session is None:
            return False
        auth = {"Authorization": f"Bearer {session}"}
        async with http.get(self.url("/api/v1/courier/pickups"), headers=auth) as response:
            items = (await response.json()).get("items", []) if response.status == 200 else []
        doors = [i["door"] for i in items if isinstance(i.get("door"), int)]
        if not doors:
            return False
        body = {"door": self.rng.choice(doors)}
        return (await self._post(http, "/api/v1/courier/collect", body, auth))[0] == 200

    async def _finish_loads(self, http: aiohttp.ClientSession, session: str) -> None:
        """Loads a killed agent left open (its doors are shut again): the courier confirms."""
        auth = {"Authorization": f"Bearer {session}"}
        async with http.get(self.url("/api/v1/courier/loads"), headers=auth) as response:
            if response.status != 200:
                return
            listed = await response.json()
        for load in listed.get("loads", []):
            self.figures.ops["finish_load"] += 1
            confirm = f"/api/v1/courier/load/{load['load']}/confirm"
            if (await self._post(http, confirm, {}, auth))[0] == 200:
                self.figures.ok["finish_load"] += 1
                parcel = self.parcels.get(str(load["order"]))
                if parcel is not None:
                    parcel.stage = "loaded"

    async def _post(
        self,
        http: aiohttp.ClientSession,
        path: str,
        body: object,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        async with http.post(self.url(path), json=body, headers=headers) as response:
            data = await response.json(content_type=None)
            if response.status >= 500:
                self.figures.problems.append(f"{path}: {response.status} {data}")
            elif response.status != 200 and isinstance(data, dict):
                where = path.rsplit("/", 1)[-1] if "/load/" in path else path
                why = f"{data.get('error')} {data.get('detail', '')}".strip()
                self.figures.refused[f"{where} {response.status} {why}"] += 1
            return response.status, data if isinstance(data, dict) else {}

    # -- checks ----------------------------------------------------------------------------
    async def check_after_kill(self, *, as_commands: bool = False) -> None:
        """`db check`, `audit verify`, and the agent's own records of door openings and spends.

        After a kill the checks run here, through the functions the two commands run (a child
        interpreter for each would double the time a kill takes); `as_commands` runs the commands
        themselves, as the last check of a run does."""
        if as_commands:
            checks = await asyncio.gather(
                self._cli("db", "check", "--config", str(self.config)),
                self._cli("audit", "verify", "--config", str(self.config)),
            )
        else:
            checks = await asyncio.gather(self._db_check(), self._audit_verify())
        for argv, (rc, out) in zip((("db", "check"), ("audit", "verify")), checks, strict=True):
            if rc != 0:
                self.figures.check_failures += 1
                self.figures.problems.append(f"{' '.join(argv)} exited {rc}: {out[-400:]}")
        doubles, unmatched = await asyncio.to_thread(agent_records, self.data_dir / "agent.db")
        for order_id, story in doubles.items():
            if order_id not in self._reported:
                self._reported.add(order_id)
                self.figures.problems.append(f"{order_id} handed out twice: {story}")
        self.figures.double_handouts = len(doubles)
        self.figures.unmatched_spends = len(unmatched)
        for u in unmatched:
            if u not in self._reported:
                self._reported.add(u)
                self.figures.problems.append(f"spent token without its opening: {u}")
        stored = await asyncio.to_thread(hub_events, self.root / "hub.db", AGENT_ID)
        seqs = [e.seq for e in stored]
        self.figures.hub_gaps = int(seqs != list(range(1, len(seqs) + 1)))
        self.figures.duplicated_events = len(seqs) - len({e.transaction_id for e in stored})

    async def _db_check(self) -> tuple[int, str]:
        try:
            return await db_command("check", load_config(self.config)), ""
        except AgentError as err:
            return 3, str(err)

    async def _audit_verify(self) -> tuple[int, str]:
        config = load_config(self.config)
        try:
            rc = await verify_command(config.database_path, device_key_path(config))
        except AgentError as err:
            return 3, str(err)
        return rc, "(its report is in the test's output)"

    async def _cli(self, *argv: str) -> tuple[int, str]:
        """`locker-agent ARGV` (forked from a worker thread: forking this big process from the
        loop thread can hold the loop for a while on a busy machine)."""
        done = await asyncio.to_thread(
            subprocess.run, [*_NICE, sys.executable, "-m", "agent", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=120,
        )  # fmt: skip
        return done.returncode, done.stdout.decode(errors="replace")

    async def drain(self, within_s: float = 60) -> None:
        """Run the agent until it has answered the hub's commands and emptied its outbox; stop it
        with SIGTERM (a clean stop), then compare its journal with the hub's store."""
        await self.cycle(kill=False)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            depth = await asyncio.to_thread(outbox_depth, self.data_dir / "agent.db")
            pending = await asyncio.to_thread(pending_commands, self.root / "hub.db")
            if depth == 0 and pending == 0:
                break
            await asyncio.sleep(0.2)
        else:
            self.figures.problems.append("the outbox did not drain")
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(self.proc.wait, 20)
        self.proc = None
        if rc != 0:
            self.figures.problems.append(f"clean stop exited {rc}: {self._log_tail()[-600:]}")
        await self.check_after_kill(as_commands=True)
        lost, duplicated, total = await asyncio.to_thread(
            journal_vs_hub, self.data_dir / "agent.db", self.root / "hub.db"
        )
        self.figures.lost_events = sum(lost.values())
        self.figures.duplicated_events += sum(duplicated.values())
        self.figures.problems += [f"lost event {kind} {body}" for kind, body in lost]
        self.figures.problems += [f"duplicated event {kind} {body}" for kind, body in duplicated]
        self.figures.events_at_hub = total
