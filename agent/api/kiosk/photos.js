// The staff screen's evidence photos of an order: thumbnails with their event, door and time, each
// linked to the signed JPEG. The agent serves both to a signed-in staff session only, so they are
// fetched with the session (an <img src> could not send it) and shown from blob URLs.
"use strict";

let photoUrls = []; // blob URLs shown now: revoked when replaced or on sign-out
let photoResult = null; // {order, photos} last shown, re-rendered on a language switch

function forgetPhotos() {
  for (const url of photoUrls) URL.revokeObjectURL(url);
  photoUrls = [];
  photoResult = null;
  $("photos").replaceChildren();
}

async function photoBlob(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${STAFF.session}` } });
  if (!response.ok) return null;
  const url = URL.createObjectURL(await response.blob());
  photoUrls.push(url);
  return url;
}

async function renderPhotos() {
  const list = $("photos");
  if (!photoResult) return;
  const items = [];
  if (photoResult.photos.length === 0) {
    items.push(element("li", { textContent: t("m_photoNone") }));
  }
  for (const p of photoResult.photos) {
    const base = `/api/v1/staff/evidence/${encodeURIComponent(p.photo)}`;
    const caption = t("m_photoCaption", { event: p.event, door: p.door, time: p.captured_at });
    const figure = element("figure", { dataset: { photo: p.photo } });
    if (!p.pruned) {
      const [thumb, full] = await Promise.all([photoBlob(`${base}/thumb`), photoBlob(base)]);
      if (thumb) figure.append(element("img", { src: thumb, alt: caption, width: 320 }));
      if (full) {
        figure.append(element("a", {
          href: full, download: `${p.photo}.jpg`, textContent: t("m_photoOpen"),
        }));
      }
    }
    figure.append(element("figcaption", { textContent: caption }));
    items.push(element("li", {}, [figure]));
  }
  list.replaceChildren(...items);
  list.dataset.loaded = photoResult.order;
}

async function findPhotos(event) {
  event.preventDefault();
  const order = $("photo-order").value.trim();
  if (!order) return;
  say("busy", () => t("s_working"));
  const { ok, body } = await call("GET", `/api/v1/staff/evidence?order=${encodeURIComponent(order)}`);
  if (!ok || !body) {
    if (STAFF.session) say("err", () => refusalText(body));
    return;
  }
  forgetPhotos();
  photoResult = body;
  STAFF.message = null;
  paintMessage();
  await renderPhotos();
}

// a language switch: the captions and link words again, without fetching the photos again
function relabelPhotos() {
  if (!photoResult) return;
  for (const figure of $("photos").querySelectorAll("figure")) {
    const p = photoResult.photos.find((x) => x.photo === figure.dataset.photo);
    const caption = t("m_photoCaption", { event: p.event, door: p.door, time: p.captured_at });
    figure.querySelector("figcaption").textContent = caption;
    const img = figure.querySelector("img");
    if (img) img.alt = caption;
    const link = figure.querySelector("a");
    if (link) link.textContent = t("m_photoOpen");
  }
  const none = $("photos").querySelector("li:not(:has(figure))");
  if (none) none.textContent = t("m_photoNone");
}

$("photo-form").addEventListener("submit", findPhotos);
