// The courier screen: load parcels (door chosen and sized by the agent, "too small" moves the
// parcel, confirm once the door is shut), finish or cancel loads nobody confirmed, and take out
// returns and expired parcels.
"use strict";

let ticket = null; // the load under way: the agent's answer to POST /courier/load
let pending = [];
let pickups = [];

const SCREEN = {
  roles: ["courier", "staff"],
  onSignedIn: refreshLists,
  onSignedOut: () => {
    ticket = null;
    pending = [];
    pickups = [];
    renderAll();
  },
  onLanguage: renderAll,
};

function ticketText(load) {
  if (load.move_parcels_from !== null && load.move_parcels_from !== undefined) {
    return t("c_move", { from: load.move_parcels_from, door: load.door });
  }
  return t("c_ticket", { door: load.door, size: load.door_size });
}

function renderTicket() {
  $("ticket").hidden = ticket === null;
  $("ticket-text").textContent = ticket ? ticketText(ticket) : "";
}

function renderPending() {
  const list = $("pending");
  list.replaceChildren();
  const mine = pending.filter((load) => !ticket || load.load !== ticket.load);
  if (mine.length === 0) list.append(element("li", { textContent: t("c_noPending") }));
  for (const load of mine) {
    list.append(
      element("li", { dataset: { load: String(load.load) } }, [
        element("span", { textContent: t("c_pendingItem", load) }),
        element("span", { className: "actions" }, [
          button(t("c_finish", load), () => confirmLoad(load.load), "primary"),
          button(t("c_cancelDoor", load), () => cancelLoad(load.load)),
        ]),
      ]),
    );
  }
}

function renderPickups() {
  const list = $("pickups");
  list.replaceChildren();
  if (pickups.length === 0) list.append(element("li", { textContent: t("c_noPickups") }));
  for (const item of pickups) {
    const kind = t(`c_kind_${item.kind}`) || item.kind;
    list.append(
      element("li", { dataset: { door: String(item.door) } }, [
        element("span", { textContent: t("c_pickupItem", { ...item, kind }) }),
        button(t("c_collect", item), () => collect(item.door)),
      ]),
    );
  }
}

function renderAll() {
  renderTicket();
  renderPending();
  renderPickups();
}

function button(text, onClick, className = "") {
  const b = element("button", { type: "button", textContent: text, className });
  b.addEventListener("click", onClick);
  return b;
}

async function refreshLists() {
  const [loads, items] = await Promise.all([
    call("GET", "/api/v1/courier/loads"),
    call("GET", "/api/v1/courier/pickups"),
  ]);
  pending = loads.ok && loads.body ? loads.body.loads : [];
  pickups = items.ok && items.body ? items.body.items : [];
  renderAll();
}

async function startLoad(event) {
  event.preventDefault();
  const label = $("label").value.trim();
  if (!label) {
    say("err", () => t("s_empty"));
    $("label").focus();
    return;
  }
  say("busy", () => t("s_working"));
  const { ok, body } = await call("POST", "/api/v1/courier/load", { label });
  if (ok && body) {
    ticket = body;
    $("label").value = "";
    say("ok", () => ticketText(body));
    renderTicket();
    $("confirm").focus();
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

async function confirmLoad(loadId) {
  say("busy", () => t("s_working"));
  const { ok, body } = await call("POST", `/api/v1/courier/load/${loadId}/confirm`);
  if (ok && body) {
    if (ticket && ticket.load === loadId) ticket = null;
    renderTicket();
    say("ok", () => t("c_loaded", { door: body.door }));
    await refreshLists();
    $("label").focus();
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

async function tooSmall() {
  if (!ticket) return;
  const { ok, body } = await call("POST", `/api/v1/courier/load/${ticket.load}/too-small`);
  if (ok && body) {
    ticket = body;
    say("ok", () => ticketText(body));
    renderTicket();
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

async function cancelLoad(loadId) {
  const { ok, body } = await call("POST", `/api/v1/courier/load/${loadId}/cancel`);
  if (ok) {
    if (ticket && ticket.load === loadId) ticket = null;
    renderTicket();
    say("warn", () => t("c_cancelled"));
    await refreshLists();
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

async function collect(door) {
  const { ok, body } = await call("POST", "/api/v1/courier/collect", { door });
  if (ok && body) {
    say("ok", () => t("c_collected", { door: body.door }));
    await refreshLists();
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

$("load-form").addEventListener("submit", startLoad);
$("confirm").addEventListener("click", () => ticket && confirmLoad(ticket.load));
$("too-small").addEventListener("click", tooSmall);
$("cancel").addEventListener("click", () => ticket && cancelLoad(ticket.load));
startStaffScreen();
