// The kiosk page: typed codes, live status for scans, messages in the customer's language,
// spoken results, and an inactivity reset. No framework: it must run on a small kiosk offline.
"use strict";

const TEXT = {
  en: {
    title: "Collect your parcel", codeLabel: "Pickup code", open: "Open my door",
    hint: "Hold the QR code from your message to the camera, or type your pickup code.",
    help: "Need help? Call support — the number is on the locker.", demoTitle: "Demo controls",
    opened: "Door {door} is open", working: "Checking…", empty: "Please type your code.",
    network: "The locker is busy. Please try again.",
  },
  de: {
    title: "Paket abholen", codeLabel: "Abholcode", open: "Fach öffnen",
    hint: "Halten Sie den QR-Code vor die Kamera oder geben Sie Ihren Abholcode ein.",
    help: "Hilfe? Rufen Sie den Support an — die Nummer steht am Automaten.", demoTitle: "Demo",
    opened: "Fach {door} ist offen", working: "Wird geprüft…", empty: "Bitte Code eingeben.",
    network: "Der Automat ist beschäftigt. Bitte erneut versuchen.",
  },
  pl: {
    title: "Odbierz paczkę", codeLabel: "Kod odbioru", open: "Otwórz skrytkę",
    hint: "Przyłóż kod QR do kamery lub wpisz kod odbioru.",
    help: "Pomoc? Zadzwoń do obsługi — numer jest na automacie.", demoTitle: "Demo",
    opened: "Skrytka {door} jest otwarta", working: "Sprawdzam…", empty: "Wpisz kod.",
    network: "Automat jest zajęty. Spróbuj ponownie.",
  },
};
const REASONS = {
  de: {
    CODE_UNKNOWN: "Dieser Code wurde nicht erkannt — bitte prüfen.",
    ALREADY_USED: "Bereits abgeholt. Falls nicht Sie, wenden Sie sich an den Support.",
    RATE_LIMITED: "Zu viele Versuche. Bitte eine Minute warten.",
    EXPIRED: "Dieser Code ist abgelaufen — holen Sie einen neuen in der App.",
    DOOR_FAILED: "Das Fach ging nicht auf. Ihr Paket ist sicher, der Code gilt weiter.",
    WRONG_LOCKER: "Dieser Code gilt für einen anderen Automaten.",
  },
  pl: {
    CODE_UNKNOWN: "Nie rozpoznano kodu — sprawdź i spróbuj ponownie.",
    ALREADY_USED: "Już odebrano. Jeśli to nie Ty, skontaktuj się z obsługą.",
    RATE_LIMITED: "Zbyt wiele prób. Odczekaj minutę.",
    EXPIRED: "Kod wygasł — pobierz nowy w aplikacji.",
    DOOR_FAILED: "Skrytka się nie otworzyła. Paczka jest bezpieczna, kod nadal działa.",
    WRONG_LOCKER: "Ten kod jest do innego automatu.",
  },
};
const IDLE_RESET_MS = 45000;
const POLL_MS = 700;
let lang = "en";
let lastEventId = null;
let idleTimer = null;

const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) =>
  (TEXT[lang][key] || TEXT.en[key]).replace(/\{(\w+)\}/g, (_, name) => vars[name] ?? "");

function speak(text) {
  if (!("speechSynthesis" in window)) return;
  window.speechSynthesis.cancel();
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = lang;
  window.speechSynthesis.speak(utterance);
}

function show(kind, text) {
  const box = $("result");
  box.className = kind;
  box.textContent = text;
  box.focus();
  speak(text);
  armIdleReset();
}

function messageFor(body) {
  if (body.result === "open") return t("opened", { door: body.door });
  if (body.error === undefined && body.result) return body.result;
  return (REASONS[lang] && REASONS[lang][body.error]) || body.message;
}

async function post(path, payload) {
  show("", t("working"));
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    const body = await response.json();
    show(response.ok ? "ok" : "err", messageFor(body));
    return body;
  } catch (err) {
    show("err", t("network"));
    return null;
  }
}

function setLanguage(code) {
  lang = code;
  document.documentElement.lang = code;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const b of document.querySelectorAll("nav button")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === code));
  }
}

function armIdleReset() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    $("code").value = "";
    $("result").textContent = "";
    $("result").className = "";
    setLanguage("en");
  }, IDLE_RESET_MS);
}

// Camera scans happen without a request from this page: poll the outcome feed.
async function pollScanEvents() {
  try {
    const after = lastEventId === null ? 0 : lastEventId;
    const response = await fetch(`/api/v1/kiosk/events?after=${after}`);
    if (response.ok) {
      const body = await response.json();
      const firstPoll = lastEventId === null; // on first load only learn where the feed is
      for (const event of body.events) {
        if (!firstPoll && event.source === "camera") {
          show(event.result === "open" ? "ok" : "err", messageFor(event));
        }
        lastEventId = event.id;
      }
      if (lastEventId === null) lastEventId = 0;
    }
  } catch (err) {
    // the agent restarts: keep polling
  }
  setTimeout(pollScanEvents, POLL_MS);
}

async function loadDemoControls() {
  try {
    const response = await fetch("/api/v1/demo/controls");
    if (!response.ok) return;
    const controls = await response.json();
    const holder = $("demo-buttons");
    for (const control of controls.buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = control.label;
      button.addEventListener("click", () => post(control.path, control.body));
      holder.appendChild(button);
    }
    $("demo").hidden = controls.buttons.length === 0;
  } catch (err) {
    // no demo controls outside the demo
  }
}

function init() {
  const nav = $("languages");
  for (const code of Object.keys(TEXT)) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.lang = code;
    button.textContent = code.toUpperCase();
    button.addEventListener("click", () => setLanguage(code));
    nav.appendChild(button);
  }
  $("code-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = $("code").value.trim();
    if (!code) {
      show("err", t("empty"));
      return;
    }
    const body = await post("/api/v1/pickup/code", { code });
    if (body && body.result === "open") $("code").value = "";
  });
  document.addEventListener("input", armIdleReset);
  setLanguage("en");
  loadDemoControls();
  pollScanEvents();
  $("code").focus();
}

init();
