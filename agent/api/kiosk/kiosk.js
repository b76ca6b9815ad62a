// The kiosk page: typed codes, live results of camera scans, the opened door's state, messages in
// the customer's language, spoken results and an inactivity reset. No framework and no network
// beyond the agent: it must run on a small kiosk computer that is offline.
"use strict";

const PARAMS = new URLSearchParams(window.location.search);
const IDLE_RESET_MS = 1000 * Math.max(1, Number(PARAMS.get("idle")) || 45);
const THANKS_RESET_MS = Math.min(IDLE_RESET_MS, 10000);
const FEED_POLL_MS = 700;
const DOOR_POLL_MS = 1000;
const DOOR_WATCH_MS = 5 * 60 * 1000;
const FINAL_STATES = new Set(["jammed", "out_of_service", "unknown"]);

let lang = "en";
let lastEventId = null; // null: the next poll only learns where the feed is
let idleTimer = null;
let watch = null; // the door being watched after an opening: {door, code, seenOpen, id}
let watchSerial = 0;

const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) =>
  (TEXT[lang][key] || TEXT.en[key] || "").replace(/\{(\w+)\}/g, (_, name) => vars[name] ?? "");

// A refusal carries its support reference as the `ref` field; keep it in every language.
function withRef(text, agentMessage) {
  const ref = /\(ref ([^)]+)\)/.exec(agentMessage || "");
  return ref && ref[1] !== "-" ? `${text} (ref ${ref[1]})` : text;
}

function withRefField(text, body) {
  return typeof body.ref === "string" && body.ref ? `${text} (ref ${body.ref})` : text;
}

// Door messages in the page's language, keeping the agent's support reference; the agent's own
// (English) words only when the page has no text for what it reported.
function localised(key, vars, agentMessage) {
  const text = t(key, vars);
  if (text) return withRef(text, agentMessage);
  return typeof agentMessage === "string" ? agentMessage : t("network");
}

function refusalText(body) {
  if (!body || typeof body.error !== "string") return t("network");
  const translated = REASONS[lang] && REASONS[lang][body.error];
  if (translated) return withRefField(translated, body);
  return typeof body.message === "string" && body.message ? body.message : t("network");
}

function speak(text) {
  if (!("speechSynthesis" in window)) return;
  window.speechSynthesis.cancel();
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = lang;
  window.speechSynthesis.speak(utterance);
}

// A short tone before the words, so a person who cannot see the screen knows the outcome at once.
// On the kiosk Chromium runs with --autoplay-policy=no-user-gesture-required (camera scans).
let audio = null; // one context for the page: browsers cap how many may exist at once
function chime(ok) {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = ok ? 880 : 220;
    gain.gain.value = 0.15;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + (ok ? 0.15 : 0.4));
  } catch (err) {
    // no audio device: the words on screen and the speech still tell
  }
}

function show(kind, text, { door = null, detail = "" } = {}) {
  const box = $("result");
  box.className = kind;
  $("result-door").hidden = door === null;
  $("result-door-number").textContent = door === null ? "" : String(door);
  $("result-text").textContent = text;
  $("result-detail").textContent = detail;
  if (text && kind !== "busy") {
    if (kind === "ok" || kind === "err") chime(kind === "ok");
    speak(detail ? `${text}. ${detail}` : text);
  }
  armIdleReset();
}

function setDetail(kind, detail) {
  $("result").className = kind;
  $("result-detail").textContent = detail;
  speak(detail);
  armIdleReset();
}

function endPickup() {
  stopWatching();
  delete $("result").dataset.door;
  $("not-open").hidden = true;
}

async function requestJson(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null; // a proxy's HTML error page: never shown to the person
  }
  return { ok: response.ok, body };
}

async function postJson(path, payload) {
  return requestJson(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
}

function showOpened(body, code) {
  const door = body.door;
  const detail = body.receipt ? `${t("openedDetail")} ${t("receipt", { receipt: body.receipt })}`
    : t("openedDetail");
  show("ok", t(body.reopened ? "reopened" : "opened", { door }), { door, detail });
  $("not-open").hidden = !code;
  // on a short screen the door number and the help button must not sit below the fold
  ($("not-open").hidden ? $("result") : $("not-open")).scrollIntoView({ block: "nearest" });
  watchDoor(door, code);
}

async function submitCode(event) {
  event.preventDefault();
  const input = $("code");
  const code = input.value.trim();
  if (!code) {
    // a second Enter after an opening must not hide which door opened
    if (!(watch && $("result").className === "ok")) show("err", t("empty"));
    return;
  }
  endPickup(); // the previous pickup's door is no longer this person's business
  $("submit").disabled = true;
  show("busy", t("working"));
  try {
    const { ok, body } = await postJson("/api/v1/pickup/code", { code });
    if (ok && body && body.result === "open") {
      input.value = "";
      input.removeAttribute("aria-invalid");
      showOpened(body, code);
    } else {
      input.setAttribute("aria-invalid", "true");
      show("err", refusalText(body));
      input.select();
    }
  } catch (err) {
    show("err", t("network"));
  } finally {
    $("submit").disabled = false;
  }
}

async function reportNotOpened() {
  if (!watch || !watch.code) return;
  const { door, code } = watch;
  $("not-open").disabled = true;
  try {
    const { ok, body } = await postJson("/api/v1/pickup/door-did-not-open", { code });
    if (ok && body && typeof body.result === "string") {
      showHelpOutcome(body, door);
    } else {
      show("err", refusalText(body), { door });
    }
    $("not-open").hidden = true;
  } catch (err) {
    show("err", t("network"), { door });
  } finally {
    $("not-open").disabled = false;
  }
}

function showHelpOutcome(body, door) {
  const result = body.result;
  const key = TEXT.en[`help_${result}`] ? `help_${result}` : `state_${result}`;
  const shown = body.door ?? door;
  const good = result === "open" || result === "was_open";
  show(good ? "ok" : "warn", localised(key, { door: shown }, body.message), { door: shown });
  // an open door is still followed until it closes; every other answer ends this pickup
  if (result !== "open") stopWatching();
}

// After an opening, follow the door's sensor: "closed" only counts once the door was seen open,
// since a jammed door never leaves "closed" until the agent declares it jammed.
function watchDoor(door, code) {
  watchSerial += 1;
  const id = watchSerial;
  watch = { door, code, seenOpen: false, lastState: null, id, until: Date.now() + DOOR_WATCH_MS };
  setTimeout(() => pollDoor(id), DOOR_POLL_MS);
}

function stopWatching() {
  watch = null;
  watchSerial += 1;
}

async function pollDoor(id) {
  if (!watch || watch.id !== id) return;
  try {
    const { ok, body } = await requestJson(`/api/v1/doors/${watch.door}/state`);
    if (ok && body && watch && watch.id === id) onDoorState(body);
  } catch (err) {
    // the agent is restarting: try again on the next tick
  }
  if (watch && watch.id === id && Date.now() < watch.until) {
    setTimeout(() => pollDoor(id), DOOR_POLL_MS);
  }
}

function onDoorState(body) {
  const { door } = watch;
  const state = body.state;
  $("result").dataset.door = state; // the door as last read: lets a test or a technician see it
  if (state === "open" || state === "left_open") watch.seenOpen = true;
  if (state === watch.lastState) return;
  watch.lastState = state;
  if (state === "left_open") {
    setDetail("warn", localised("state_left_open", { door }, body.message));
  } else if (state === "closed" && watch.seenOpen) {
    show("ok", localised("state_closed", { door }, body.message), { door });
    $("not-open").hidden = true;
    stopWatching();
    clearTimeout(idleTimer);
    idleTimer = setTimeout(resetPage, THANKS_RESET_MS);
  } else if (FINAL_STATES.has(state)) {
    show("err", localised(`state_${state}`, { door }, body.message), { door });
    $("not-open").hidden = true;
    stopWatching();
  }
}

function setLanguage(code) {
  lang = code;
  document.documentElement.lang = code;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const b of document.querySelectorAll("#languages button")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === code));
  }
}

function resetPage() {
  endPickup();
  $("code").value = "";
  $("code").removeAttribute("aria-invalid");
  show("", "");
  $("demo-status").textContent = "";
  setLanguage("en");
  $("code").focus();
}

// Nobody should find the previous customer's door number or language: reset when idle, except
// while the door just opened is followed (the person is at the door; a closed door or a final
// verdict ends the following).
function armIdleReset() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (watch && Date.now() < watch.until) {
      armIdleReset();
      return;
    }
    resetPage();
  }, IDLE_RESET_MS);
}

function onCameraEvent(event) {
  endPickup();
  if (event.result === "open" && event.door !== null) {
    showOpened(event, null);
  } else {
    show("err", refusalText(event));
  }
}

// Camera scans happen without a request from this page: poll the outcome feed.
async function pollScanEvents() {
  try {
    const after = lastEventId === null ? 0 : lastEventId;
    const { ok, body } = await requestJson(`/api/v1/kiosk/events?after=${after}`);
    if (ok && body && Array.isArray(body.events)) {
      const firstPoll = lastEventId === null; // outcomes from before the page loaded are old
      for (const event of body.events) {
        if (!firstPoll && event.source === "camera") onCameraEvent(event);
        lastEventId = event.id;
      }
      if (lastEventId === null) lastEventId = 0;
      document.documentElement.dataset.feed = "live";
    }
  } catch (err) {
    // the agent restarts and its feed numbering starts again: learn the position anew
    lastEventId = null;
  }
  setTimeout(pollScanEvents, FEED_POLL_MS);
}

async function loadDemoControls() {
  try {
    const { ok, body } = await requestJson("/api/v1/demo/controls");
    if (!ok || !body || !Array.isArray(body.buttons)) return;
    const holder = $("demo-buttons");
    for (const control of body.buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = control.label;
      button.addEventListener("click", () => demoAction(control));
      holder.appendChild(button);
    }
    $("demo").hidden = body.buttons.length === 0;
  } catch (err) {
    // no demo controls outside the demo
  }
}

// Demo outcomes stay in the demo panel: the customer's area shows only what the locker did.
async function demoAction(control) {
  try {
    const { body } = await postJson(control.path, control.body);
    $("demo-status").textContent = (body && (body.result || body.message)) || t("network");
  } catch (err) {
    $("demo-status").textContent = t("network");
  }
}

function init() {
  const nav = $("languages");
  for (const code of Object.keys(TEXT)) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.lang = code;
    button.lang = code;
    button.textContent = TEXT[code].langName;
    button.addEventListener("click", () => setLanguage(code));
    nav.appendChild(button);
  }
  $("code-form").addEventListener("submit", submitCode);
  $("not-open").addEventListener("click", reportNotOpened);
  document.addEventListener("input", armIdleReset);
  document.addEventListener("keydown", armIdleReset);
  document.addEventListener("pointerdown", armIdleReset);
  setLanguage("en");
  loadDemoControls();
  pollScanEvents();
  $("code").focus();
}

init();
