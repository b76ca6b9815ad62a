// The customer kiosk: typed codes (on-screen keypad or keyboard), returns, live results of camera
// scans, the opened door's state and where it is, words in four languages, spoken results and an
// inactivity reset with a warning first. Runs offline on a small kiosk computer.
"use strict";

const PARAMS = new URLSearchParams(window.location.search);
const IDLE_RESET_MS = 1000 * Math.max(1, Number(PARAMS.get("idle")) || 45);
const WARNING_MS = Math.min(10000, IDLE_RESET_MS / 2); // "more time?" this long before the reset
const THANKS_RESET_MS = Math.min(IDLE_RESET_MS, 10000);
const FEED_POLL_MS = 700;
const DOOR_POLL_MS = 1000;
const DOOR_WATCH_MS = 5 * 60 * 1000;
const FINAL_STATES = new Set(["jammed", "out_of_service", "unknown"]);
let HOME_LANG = "en"; // ?lang=xx: the language this kiosk returns to when idle (set in init)

let mode = "collect"; // or "return"
let outcome = null; // what the result area shows: {kind, door, text(), detail(), where}
let columns = []; // the locker's door columns, top to bottom: [[{door, low}], ...]
let lastEventId = null; // null: the next poll only learns where the feed is
let idleTimer = null;
let warnTimer = null;
let watch = null; // the door being watched after an opening: {door, code, seenOpen, id}
let watchSerial = 0;
let damage = null; // what a "parcel damaged" report sends: {code} or {ticket}, after an opening
let guided = false; // the spoken guide was given since the last reset

const $ = (id) => document.getElementById(id);

// A voice of the page's language: speech-dispatcher offers espeak-ng's voices as "fr-FR",
// "pl", "en-GB"..., and without an explicit voice Chromium may read French with an English one.
function voiceFor(lang) {
  const voices = window.speechSynthesis.getVoices();
  const exact = voices.find((v) => v.lang.toLowerCase() === lang);
  return exact || voices.find((v) => v.lang.toLowerCase().startsWith(`${lang}-`)) || null;
}

// `queue`: after what is being said (a key's echo after the guide), not instead of it.
function speak(text, { queue = false } = {}) {
  if (!("speechSynthesis" in window) || !text) return;
  if (!queue) window.speechSynthesis.cancel();
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = I18N.lang;
  const voice = voiceFor(I18N.lang);
  if (voice) utterance.voice = voice;
  window.speechSynthesis.speak(utterance);
}

// A short tone before the words, so a person who cannot see the screen knows the outcome at once.
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

// -- the result area -------------------------------------------------------------------------

function render(speakIt) {
  const box = $("result");
  const shown = outcome || { kind: "", door: null, text: () => "" };
  box.className = shown.kind;
  box.setAttribute("aria-busy", String(shown.kind === "busy"));
  $("progress").hidden = shown.kind !== "busy";
  $("result-door").hidden = shown.door === null;
  $("result-door-number").textContent = shown.door === null ? "" : String(shown.door);
  const text = shown.text();
  const detail = shown.detail ? shown.detail() : "";
  const where = shown.where && shown.door !== null ? whereText(columns, shown.door) : "";
  $("result-text").textContent = text;
  $("result-detail").textContent = detail;
  $("where").hidden = !where;
  $("where-text").textContent = where;
  if (where) drawMap($("door-map"), columns, shown.door);
  if (speakIt && text && shown.kind !== "busy") {
    if (shown.kind === "ok" || shown.kind === "err") chime(shown.kind === "ok");
    speak([text, detail, where].filter(Boolean).join(" "));
  }
}

function show(kind, text, { door = null, detail = null, where = false } = {}) {
  outcome = { kind, door, text, detail, where };
  render(true);
  armIdleReset();
}

function setDetail(kind, detail) {
  if (!outcome) return;
  outcome.kind = kind;
  outcome.detail = detail;
  render(true);
  armIdleReset();
}

// The door's words in the page's language with the agent's support reference; the agent's own
// (English) words only when the page has no text for what it reported.
function doorWords(key, vars, body) {
  return () => (hasText(key) ? withRef(t(key, vars), refOf(body)) : body.message || t("network"));
}

function endPickup() {
  stopWatching();
  delete $("result").dataset.door;
  delete $("result").dataset.receipt;
  $("not-open").hidden = true;
  damage = null;
  $("damaged").hidden = true;
}

// `code`: the typed code, or `{ticket}` after a camera pickup; either reports "didn't open".
function showOpened(body, code) {
  const door = body.door;
  const receipt = body.receipt;
  const detail = () =>
    receipt ? `${t("openedDetail")} ${t("receipt", { receipt })}` : t("openedDetail");
  show("ok", () => t(body.reopened ? "reopened" : "opened", { door }), { door, detail, where: true });
  $("not-open").hidden = !code;
  damage = code ? (typeof code === "string" ? { code } : { ticket: code.ticket }) : null;
  $("damaged").hidden = !damage; // stays after the door closes: the parcel is looked at then
  // on a short screen the door number and the help button must not sit below the fold
  ($("not-open").hidden ? $("result") : $("not-open")).scrollIntoView({ block: "nearest" });
  watchDoor(door, code);
}

function showReturnOpened(body) {
  const { door, receipt } = body;
  const detail = () => `${t("returnDetail")} ${t("receipt", { receipt })}`;
  show("ok", () => t("returnOpened", { door }), { door, detail, where: true });
  $("result").dataset.receipt = receipt;
  $("result").scrollIntoView({ block: "nearest" });
  watchDoor(door, null);
}

async function submitCode(event) {
  event.preventDefault();
  const input = $("code");
  const code = input.value.trim();
  if (!code) {
    // a second Enter after an opening must not hide which door opened
    if (!(watch && outcome && outcome.kind === "ok")) show("err", () => t("empty"));
    return;
  }
  endPickup(); // the previous pickup's door is no longer this person's business
  closeWallet();
  const returning = mode === "return";
  $("submit").disabled = true;
  show("busy", () => t("working"));
  try {
    const path = returning ? "/api/v1/returns/start" : "/api/v1/pickup/code";
    const { ok, body } = await postJson(path, { code });
    if (ok && body && body.result === "open") {
      input.value = "";
      input.removeAttribute("aria-invalid");
      if (returning) showReturnOpened(body);
      else showOpened(body, code);
    } else if (!returning && reasonOf(body) === "AGE_CHECK_REQUIRED" && offerWallet({ code })) {
      input.removeAttribute("aria-invalid"); // the code is right: the wallet screen takes over
    } else {
      input.setAttribute("aria-invalid", "true");
      show("err", () => refusalText(body));
      input.select();
    }
  } catch (err) {
    show("err", () => t("network"));
  } finally {
    $("submit").disabled = false;
  }
}

// Reusable packaging (liners, boxes) goes back without a code: the agent picks a door.
async function returnPackaging() {
  endPickup();
  $("packaging").disabled = true;
  show("busy", () => t("working"));
  try {
    const { ok, body } = await postJson("/api/v1/returns/packaging", { items: 1 });
    if (ok && body && body.result === "open") showReturnOpened(body);
    else show("err", () => refusalText(body));
  } catch (err) {
    show("err", () => t("network"));
  } finally {
    $("packaging").disabled = false;
  }
}

async function reportNotOpened() {
  if (!watch || !watch.code) return;
  const { door, code } = watch;
  $("not-open").disabled = true;
  try {
    const report = typeof code === "string" ? { code } : { ticket: code.ticket };
    const { ok, body } = await postJson("/api/v1/pickup/door-did-not-open", report);
    if (ok && body && typeof body.result === "string") {
      showHelpOutcome(body, door);
    } else {
      show("err", () => refusalText(body), { door });
    }
    $("not-open").hidden = true;
  } catch (err) {
    show("err", () => t("network"), { door });
  } finally {
    $("not-open").disabled = false;
  }
}

// The customer reports the parcel damaged: the agent photographs the compartment and tells the hub.
async function reportDamaged() {
  if (!damage) return;
  $("damaged").disabled = true;
  try {
    const { ok, body } = await postJson("/api/v1/pickup/parcel-damaged", damage);
    if (ok && body && body.result === "recorded") {
      const ref = body.ref;
      show("ok", () => withRef(t("damageRecorded", { door: body.door }), ref), { door: body.door });
      $("damaged").hidden = true;
      damage = null;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(resetPage, THANKS_RESET_MS);
    } else {
      show("err", () => refusalText(body));
    }
  } catch (err) {
    show("err", () => t("network"));
  } finally {
    $("damaged").disabled = false;
  }
}

function showHelpOutcome(body, door) {
  const result = body.result;
  const key = hasText(`help_${result}`) ? `help_${result}` : `state_${result}`;
  const shown = body.door ?? door;
  const good = result === "open" || result === "was_open";
  show(good ? "ok" : "warn", doorWords(key, { door: shown }, body), { door: shown, where: true });
  // an open door is still followed until it closes; every other answer ends this pickup
  if (result !== "open") stopWatching();
}

// -- following the opened door ----------------------------------------------------------------

// "closed" only counts once the door was seen open: a jammed door never leaves "closed" until
// the agent declares it jammed.
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
    setDetail("warn", doorWords("state_left_open", { door }, body));
  } else if (state === "closed" && watch.seenOpen) {
    show("ok", doorWords("state_closed", { door }, body), { door });
    $("not-open").hidden = true;
    stopWatching();
    clearTimeout(idleTimer);
    idleTimer = setTimeout(resetPage, THANKS_RESET_MS);
  } else if (FINAL_STATES.has(state)) {
    show("err", doorWords(`state_${state}`, { door }, body), { door, where: true });
    $("not-open").hidden = true;
    stopWatching();
  }
}

// -- modes, keypad, language, idle reset -------------------------------------------------------

function setMode(next) {
  mode = next;
  const returning = mode === "return";
  $("title").dataset.i18n = returning ? "modeReturn" : "title";
  $("hint").dataset.i18n = returning ? "returnHint" : "hint";
  $("code-label").dataset.i18n = returning ? "returnCodeLabel" : "codeLabel";
  $("submit").dataset.i18n = returning ? "returnOpen" : "open";
  for (const b of document.querySelectorAll("#modes button")) {
    b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
  }
  $("packaging").hidden = !returning;
  setLanguage(I18N.lang); // the swapped keys get their words
}

function chooseMode(next) {
  if (next === mode) return;
  endPickup();
  outcome = null;
  render(false);
  $("code").value = "";
  $("code").removeAttribute("aria-invalid");
  setMode(next);
  $("code").focus();
}

// An audio-guided path: the first touch of a new customer speaks where everything is, and each
// key says what it typed, so a person who cannot see the screen can find the keypad and enter a
// code; the outcome then says which door opened and where it is.
function guideOnFirstTouch() {
  if (guided) return;
  guided = true;
  speak(t("guide"));
}

function echoKey(key) {
  const name = key === "delete" ? t("keyDeleteName") : key === "clear" ? t("keyClearName") : key;
  speak(name, { queue: true });
}

function somethingToClear() {
  return Boolean(outcome || WALLET.claim || $("code").value || mode !== "collect" || I18N.lang !== HOME_LANG);
}

function resetPage() {
  guided = false;
  endPickup();
  closeWallet();
  hideWarning();
  outcome = null;
  $("code").value = "";
  $("code").removeAttribute("aria-invalid");
  $("demo-status").textContent = "";
  setMode("collect");
  setLanguage(HOME_LANG);
  render(false);
  $("code").focus();
}

function watching() {
  return Boolean(watch && Date.now() < watch.until);
}

function showWarning() {
  if (watching() || !somethingToClear()) return;
  $("more-time").hidden = false;
  speak(t("moreTime"));
}

function hideWarning() {
  $("more-time").hidden = true;
}

// Nobody should find the previous customer's door number or language: warn, then reset when
// idle, except while the door just opened is followed (the person is at the door).
function armIdleReset() {
  clearTimeout(idleTimer);
  clearTimeout(warnTimer);
  hideWarning();
  warnTimer = setTimeout(showWarning, IDLE_RESET_MS - WARNING_MS);
  idleTimer = setTimeout(() => {
    if (watching()) {
      armIdleReset();
      return;
    }
    resetPage();
  }, IDLE_RESET_MS);
}

// -- camera scans and the demo ---------------------------------------------------------------

function onCameraEvent(event) {
  if (event.result === "wallet") {
    onWalletShown(event);
    return;
  }
  endPickup();
  closeWallet();
  if (event.reason === "AGE_CHECK_REQUIRED" && event.wallet_ticket) {
    if (offerWallet({ ticket: event.wallet_ticket })) return;
  }
  if (event.result === "open" && event.door !== null) {
    if (event.receipt) showReturnOpened(event);
    else showOpened(event, event.help_ticket ? { ticket: event.help_ticket } : null);
  } else {
    show("err", () => refusalText(event));
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

async function loadLayout() {
  try {
    const { ok, body } = await requestJson("/api/v1/kiosk/layout");
    if (ok && body && Array.isArray(body.columns)) columns = body.columns.map((c) => c.doors);
  } catch (err) {
    columns = []; // no map: the door number alone still tells
  }
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

async function init() {
  await loadLanguages();
  HOME_LANG = initialLanguage();
  languageButtons($("languages"));
  buildKeypad($("keypad"), $("code"), (key) => {
    echoKey(key);
    armIdleReset();
  });
  document.addEventListener("pointerdown", guideOnFirstTouch, { capture: true });
  I18N.onChange.push(() => render(Boolean(outcome)));
  $("code-form").addEventListener("submit", submitCode);
  $("not-open").addEventListener("click", reportNotOpened);
  $("damaged").addEventListener("click", reportDamaged);
  $("packaging").addEventListener("click", returnPackaging);
  for (const b of document.querySelectorAll("#modes button")) {
    b.addEventListener("click", () => chooseMode(b.dataset.mode));
  }
  $("more-time-yes").addEventListener("click", () => {
    armIdleReset();
    $("code").focus();
  });
  document.addEventListener("input", armIdleReset);
  document.addEventListener("keydown", armIdleReset);
  document.addEventListener("pointerdown", armIdleReset);
  setMode("collect");
  setLanguage(HOME_LANG);
  await loadLayout();
  initWallet();
  loadDemoControls().then(loadWalletDemo);
  pollScanEvents();
  $("code").focus();
}

init();
