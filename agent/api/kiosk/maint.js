// The maintenance screen (/staff): every door with its state, sensor, fault and occupancy; open a
// door with a reason, enable or disable it, clear its fault (each action audited by the agent);
// the hub link, trust bundle, clock, camera and recent alarms from /api/v1/status.
"use strict";

const REFRESH_MS = 5000;
let doors = [];
let status = null;
let selected = null; // door number
let refreshTimer = null;

const SCREEN = {
  roles: ["staff"],
  onSignedIn: refresh,
  onSignedOut: () => {
    forgetPhotos(); // photos.js: no photo outlives the session that fetched it
    clearTimeout(refreshTimer);
    doors = [];
    status = null;
    selected = null;
    renderAll();
  },
  onLanguage: () => {
    renderAll();
    relabelPhotos();
  },
};

function doorFacts(d) {
  const facts = [t("m_size", { size: d.size }), t(d.enabled ? "m_enabled" : "m_disabled")];
  facts.push(d.fault ? t("m_fault", { fault: d.fault }) : t("m_noFault"));
  facts.push(t(d.occupied ? "m_occupied" : "m_free"), t("m_sensor", { sensor: d.sensor }));
  if (d.needs_attention && d.needs_attention.length) facts.push(t("m_attention"));
  return facts.join(" · ");
}

function renderDoors() {
  const grid = $("doors");
  grid.replaceChildren();
  for (const d of doors) {
    const state = d.fault ? "fault" : d.enabled ? (d.occupied ? "occupied" : "free") : "disabled";
    const b = element(
      "button",
      { type: "button", className: `door ${state}`, dataset: { door: String(d.door), state } },
      [
        element("strong", { textContent: t("m_doorName", { door: d.door }) }),
        element("span", { textContent: doorFacts(d) }),
      ],
    );
    b.setAttribute("aria-pressed", String(d.door === selected));
    b.addEventListener("click", () => {
      selected = d.door;
      renderAll();
      $("reason").focus();
    });
    grid.append(element("li", {}, [b]));
  }
}

function renderActions() {
  const d = doors.find((x) => x.door === selected);
  $("door-actions").hidden = !d;
  if (!d) return;
  $("actions-title").textContent = t("m_actionsTitle", { door: d.door });
  $("door-summary").textContent = doorFacts(d);
  $("enable-door").hidden = d.enabled;
  $("disable-door").hidden = !d.enabled;
  $("clear-fault").hidden = !d.fault;
}

function facts(id, lines) {
  $(id).replaceChildren(...lines.map((line) => element("li", { textContent: line })));
}

function renderStatus() {
  if (!status) {
    for (const id of ["sync", "trust", "clock", "camera", "alarms"]) facts(id, []);
    return;
  }
  const hub = status.hub;
  const outbox = t("m_outbox", {
    depth: hub ? hub.outbox_depth : status.outbox_depth,
    age: hub && hub.oldest_age_s !== null ? formatAge(hub.oldest_age_s) : t("s_none"),
  });
  facts(
    "sync",
    hub
      ? [t(hub.connected ? "m_connected" : "m_notConnected"), outbox,
        t("m_lastConfirm", { when: hub.last_confirm_at ? formatTime(hub.last_confirm_at) : t("s_none") })]
      : [t("m_offline"), outbox],
  );
  const now = status.clock ? status.clock.now : Date.now() / 1000;
  const trust = status.trust;
  facts(
    "trust",
    trust && trust.version !== null && trust.version !== undefined
      ? [t("m_trustVersion", { version: trust.version, age: formatAge(now - trust.issued_at) })]
      : [t("m_noBundle")],
  );
  const clock = status.clock || {};
  facts("clock", [
    t("m_clockLine", { now: formatTime(clock.now), floor: formatTime(clock.time_floor) }),
    t(clock.trusted ? "m_trusted" : "m_untrusted"),
  ]);
  const camera = status.camera;
  facts("camera", [
    !camera ? t("m_cameraOff")
      : camera.ok ? t("m_cameraOk", { frames: camera.frames })
        : t("m_cameraBad", { error: camera.last_error || t("m_unknown") }),
  ]);
  const alarms = (status.supervision && status.supervision.recent_alarms) || [];
  facts(
    "alarms",
    alarms.length === 0
      ? [t("m_noAlarms")]
      : alarms.slice(-10).reverse().map((a) =>
        t("m_alarmLine", { kind: a.kind, door: a.door ?? t("s_none"), when: formatTime(a.at) })),
  );
}

function renderAll() {
  renderDoors();
  renderActions();
  renderStatus();
}

async function refresh() {
  clearTimeout(refreshTimer);
  const [inventory, state] = await Promise.all([
    call("GET", "/api/v1/staff/inventory", null, { background: true }),
    requestJson("/api/v1/status"),
  ]);
  if (!STAFF.session) return;
  if (inventory.ok && inventory.body) doors = inventory.body.doors;
  if (state.ok && state.body) status = state.body;
  renderAll();
  document.documentElement.dataset.loaded = "yes";
  refreshTimer = setTimeout(refresh, REFRESH_MS);
}

async function act(action, { needsReason = false, done }) {
  const door = selected;
  if (door === null) return;
  const reason = $("reason").value.trim();
  if (needsReason && !reason) {
    say("err", () => t("m_needReason"));
    $("reason").focus();
    return;
  }
  say("busy", () => t("s_working"));
  const payload = reason ? { reason } : {};
  const { ok, body } = await call("POST", `/api/v1/staff/doors/${door}/${action}`, payload);
  if (ok && body) {
    $("reason").value = "";
    await refresh(); // the door grid shows the change before the message says it is done
    say("ok", () => t(done, { door, fault: body.fault || "" }));
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

$("refresh").addEventListener("click", refresh);
$("open-door").addEventListener("click", () => act("open", { needsReason: true, done: "m_opened" }));
$("enable-door").addEventListener("click", () => act("enable", { done: "m_enabledDone" }));
$("disable-door").addEventListener("click", () => act("disable", { done: "m_disabledDone" }));
$("clear-fault").addEventListener("click", () => act("clear-fault", { done: "m_cleared" }));
renderActions();
startStaffScreen();
