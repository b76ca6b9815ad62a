// What the staff screens (/courier, /counter, /staff) share: PIN or token sign-in, the session
// sent with each request, sign-out on idle, messages in the chosen language and role-specific
// refusals. The page's own script sets SCREEN = {roles, onSignedIn(), onLanguage()}.
"use strict";

const STAFF_PARAMS = new URLSearchParams(window.location.search);
const STAFF_IDLE_MS = 1000 * Math.max(1, Number(STAFF_PARAMS.get("idle")) || 120);
const STAFF = { session: null, role: null, actor: null, idleTimer: null, message: null };
const $ = (id) => document.getElementById(id);

// One message line for the screen: {kind, text()} so that a language switch re-renders it.
function say(kind, text) {
  STAFF.message = { kind, text };
  paintMessage();
}

function paintMessage() {
  const box = $("message");
  const shown = STAFF.message;
  box.className = shown ? shown.kind : "";
  box.textContent = shown ? shown.text() : "";
}

function needText() {
  return t(SCREEN.roles.includes("courier") ? "s_needCourier" : "s_needStaff");
}

function showSignedIn(signedIn) {
  $("sign-in-view").hidden = signedIn;
  $("work-view").hidden = !signedIn;
  $("who").textContent = signedIn
    ? t("s_signedInAs", { actor: STAFF.actor, role: t(`s_role_${STAFF.role}`) })
    : "";
}

async function signIn(event) {
  event.preventDefault();
  const pin = $("pin").value.trim();
  const token = $("token") ? $("token").value.trim() : "";
  if (!pin && !token) {
    say("err", () => t("s_empty"));
    $("pin").focus();
    return;
  }
  say("busy", () => t("s_working"));
  const { ok, body } = await postJson("/api/v1/staff/sign-in", token ? { token } : { pin });
  $("pin").value = "";
  if ($("token")) $("token").value = "";
  if (!ok || !body) {
    // a wrong PIN, or a token that is forged, expired or not a courier's: one answer for all
    const reason = reasonOf(body);
    const wrong = reason && reason !== "RATE_LIMITED" && reason !== "INTERNAL";
    say("err", () => (wrong ? t("s_wrongPin") : refusalText(body)));
    return;
  }
  if (!SCREEN.roles.includes(body.role)) {
    // signed in, but not for this screen: end that session at once and say what is needed
    await postJson("/api/v1/staff/sign-out", {}, body.session);
    say("err", needText);
    return;
  }
  Object.assign(STAFF, { session: body.session, role: body.role, actor: body.actor });
  STAFF.message = null;
  paintMessage();
  showSignedIn(true);
  armStaffIdle();
  await SCREEN.onSignedIn();
}

async function signOut(why = null) {
  const session = STAFF.session;
  Object.assign(STAFF, { session: null, role: null, actor: null });
  clearTimeout(STAFF.idleTimer);
  showSignedIn(false);
  for (const el of document.querySelectorAll("#work-view input")) el.value = "";
  if (SCREEN.onSignedOut) SCREEN.onSignedOut();
  STAFF.message = why;
  paintMessage();
  $("pin").focus();
  if (session) {
    try {
      await postJson("/api/v1/staff/sign-out", {}, session);
    } catch (err) {
      // the session ends on the agent by itself
    }
  }
}

function armStaffIdle() {
  clearTimeout(STAFF.idleTimer);
  if (!STAFF.session) return;
  STAFF.idleTimer = setTimeout(
    () => signOut({ kind: "warn", text: () => t("s_signedOutIdle") }),
    STAFF_IDLE_MS,
  );
}

// A request with the session (`background`: the screen refreshing itself). A 401 means the sign-in ended (expired, or the agent restarted):
// back to the sign-in form, saying which sign-in this screen needs.
async function call(method, path, payload = null, { background = false } = {}) {
  if (!background) armStaffIdle(); // a screen's own refresh is no sign of a person there
  const result =
    method === "GET" ? await getJson(path, STAFF.session) : await postJson(path, payload, STAFF.session);
  if (result.status === 401 && STAFF.session) {
    await signOut({ kind: "err", text: () => `${t("s_sessionEnded")} ${needText()}` });
  }
  return result;
}

function formatAge(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return t("m_unknown");
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

function formatTime(epoch) {
  if (typeof epoch !== "number" || !epoch) return t("m_unknown");
  return new Date(epoch * 1000).toLocaleString(I18N.lang, { dateStyle: "short", timeStyle: "medium" });
}

function element(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el) el[key] = value;
    else el.setAttribute(key, value);
  }
  for (const child of children) el.append(child);
  return el;
}

// Digits for the PIN by pointer alone (a locker's staff panel may have no keyboard).
function buildPinPad() {
  const pad = $("pin-pad");
  for (const key of [..."1234567890", "delete"]) {
    const b = element("button", { type: "button", tabIndex: -1, dataset: { key } });
    if (key === "delete") {
      b.className = "key-wide";
      b.dataset.i18n = "keyDelete";
      b.dataset.i18nLabel = "keyDeleteName";
    } else {
      b.textContent = key;
    }
    b.addEventListener("pointerdown", (event) => event.preventDefault());
    b.addEventListener("click", () => {
      const pin = $("pin");
      pin.value = key === "delete" ? pin.value.slice(0, -1) : pin.value + key;
      pin.focus();
    });
    pad.append(b);
  }
}

async function startStaffScreen() {
  await loadLanguages();
  languageButtons($("languages"));
  buildPinPad();
  I18N.onChange.push(() => {
    paintMessage();
    if (STAFF.session) showSignedIn(true);
    if (SCREEN.onLanguage) SCREEN.onLanguage();
  });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  for (const kind of ["input", "keydown", "pointerdown"]) {
    document.addEventListener(kind, armStaffIdle);
  }
  setLanguage(initialLanguage());
  showSignedIn(false);
  document.documentElement.dataset.ready = "yes";
  $("pin").focus();
}
