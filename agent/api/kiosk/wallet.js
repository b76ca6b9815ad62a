// The kiosk's wallet screen: an age-restricted parcel (the agent answers AGE_CHECK_REQUIRED to its
// code or token) opens only after the customer's ID wallet proves the age. The screen asks for
// the wallet's QR code; the camera reads it (a "wallet" outcome in the feed) and the page sends
// it with the customer's own code (or the feed's ticket for a token the camera read) to
// POST /api/v1/pickup/wallet, which verifies the wallet offline. Uses kiosk.js's show/speak.
"use strict";

const WALLET = {
  available: false, // this locker has a wallet reader and trusted issuers
  claim: null, // while the screen is up: {code} or {ticket}
  busy: false,
};

async function loadWallet() {
  try {
    const { ok, body } = await requestJson("/api/v1/kiosk/wallet");
    WALLET.available = Boolean(ok && body && body.available);
  } catch (err) {
    WALLET.available = false;
  }
}

// Shows the wallet screen for the order `claim` names; false when this locker cannot check one
// (the refusal is then shown as it is: "needs an ID check at the service counter").
function offerWallet(claim) {
  if (!WALLET.available) return false;
  WALLET.claim = claim;
  $("wallet").hidden = false;
  $("code-form").hidden = true;
  $("modes").hidden = true;
  $("hint").hidden = true;
  show("warn", () => t("walletNeeded"), { detail: () => t("walletSpoken") });
  $("wallet-cancel").focus();
  return true;
}

function closeWallet() {
  WALLET.claim = null;
  $("wallet").hidden = true;
  $("code-form").hidden = false;
  $("modes").hidden = false;
  $("hint").hidden = false;
}

function cancelWallet() {
  closeWallet();
  show("warn", () => t("walletCancelled"));
  $("code").focus();
}

// The camera read a wallet's QR code: with the screen up, the wallet is asked for the proof.
async function onWalletShown(event) {
  if (!WALLET.available) {
    show("err", () => refusalText({ reason: "ID_CHECK_UNAVAILABLE" }));
    return;
  }
  if (!WALLET.claim) {
    show("warn", () => t("walletFirst"));
    return;
  }
  if (WALLET.busy) return;
  WALLET.busy = true;
  const claim = WALLET.claim;
  show("busy", () => t("walletChecking"));
  try {
    const { ok, body } = await postJson("/api/v1/pickup/wallet", {
      ...claim,
      engagement: event.engagement,
    });
    closeWallet();
    if (ok && body && body.result === "open") {
      $("code").value = "";
      showOpened(body, claim.code || null);
    } else {
      show("err", () => refusalText(body), { detail: () => t("walletCounter") });
    }
  } catch (err) {
    show("err", () => t("network"));
  } finally {
    WALLET.busy = false;
  }
}

// Demo only: simulated phones with a wallet that show their QR code to the simulated camera.
async function loadWalletDemo() {
  try {
    const { ok, body } = await requestJson("/api/v1/demo/wallet");
    if (!ok || !body || !Array.isArray(body.camera) || body.camera.length === 0) return;
    const holder = $("demo-buttons");
    for (const control of body.camera) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = control.label;
      button.dataset.wallet = String(control.body.age);
      button.addEventListener("click", () => demoAction(control));
      holder.appendChild(button);
    }
    $("demo").hidden = false;
  } catch (err) {
    // no wallet demo outside the demo
  }
}

function initWallet() {
  $("wallet-cancel").addEventListener("click", cancelWallet);
  loadWallet();
}
