// What every screen shares: the words in four languages (one JSON file per language under
// /kiosk/i18n/), the language buttons, refusals in the person's language and JSON requests.
// Loaded before the screen's own script; no framework, no network beyond the agent.
"use strict";

// The languages are the files under /kiosk/i18n/, as the agent lists them (English first): a new
// language is one new file there.
const LANGS = [];
const I18N = { lang: "en", texts: {}, onChange: [] };

async function loadLanguages() {
  const listed = await (await fetch("/kiosk/languages.json")).json();
  LANGS.splice(0, LANGS.length, ...listed.languages);
  await Promise.all(
    LANGS.map(async (code) => {
      const response = await fetch(`/kiosk/i18n/${code}.json`);
      I18N.texts[code] = await response.json();
    }),
  );
}

function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? "").toString());
}

// A text of the page's language (English if that language lacks it, which a test forbids).
function t(key, vars = {}) {
  const own = I18N.texts[I18N.lang] && I18N.texts[I18N.lang].text[key];
  const en = I18N.texts.en && I18N.texts.en.text[key];
  return fill(own || en || "", vars);
}

function hasText(key) {
  return Boolean(I18N.texts.en && I18N.texts.en.text[key]);
}

// Error bodies: {"error": R, "reason": R, "ref": "..." | null, "message": ...}. The page reads
// the fields; it never parses the English message.
function reasonOf(body) {
  return body && typeof body.reason === "string" ? body.reason : null;
}

function refOf(body) {
  return body && typeof body.ref === "string" && body.ref ? body.ref : null;
}

function withRef(text, ref) {
  return ref ? `${text} (ref ${ref})` : text;
}

// A refusal in the page's language with its support reference; the agent's own words only
// for a reason this page does not know yet (a newer agent).
function refusalText(body) {
  const reason = reasonOf(body);
  if (!reason) return t("network");
  const table = I18N.texts[I18N.lang] && I18N.texts[I18N.lang].reasons;
  const text = (table && table[reason]) || (I18N.texts.en && I18N.texts.en.reasons[reason]);
  if (text) return withRef(text, refOf(body));
  return typeof body.message === "string" && body.message ? body.message : t("network");
}

function initialLanguage() {
  const wanted = new URLSearchParams(window.location.search).get("lang");
  return LANGS.includes(wanted) ? wanted : "en";
}

// Applies the language to every [data-i18n] text, [data-i18n-label] name and the page title.
function setLanguage(code) {
  I18N.lang = LANGS.includes(code) ? code : "en";
  document.documentElement.lang = I18N.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  const titleKey = document.body.dataset.title || "pageTitle";
  document.title = t(titleKey);
  for (const b of document.querySelectorAll("#languages button")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === I18N.lang));
  }
  for (const listener of I18N.onChange) listener(I18N.lang);
}

function languageButtons(nav) {
  for (const code of LANGS) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.lang = code;
    button.lang = code;
    button.textContent = I18N.texts[code].text.langName;
    button.addEventListener("click", () => setLanguage(code));
    nav.appendChild(button);
  }
}

async function requestJson(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null; // a proxy's HTML error page: never shown to the person
  }
  return { ok: response.ok, status: response.status, body };
}

async function postJson(path, payload, session = null) {
  const headers = { "Content-Type": "application/json" };
  if (session) headers.Authorization = `Bearer ${session}`;
  return requestJson(path, { method: "POST", headers, body: JSON.stringify(payload ?? {}) });
}

async function getJson(path, session = null) {
  const headers = session ? { Authorization: `Bearer ${session}` } : {};
  return requestJson(path, { headers });
}
