// The service counter: hand out a parcel (the customer's code and the parcel's label must name the
// same order; when the order needs an ID check the screen asks for its outcome), accept returns
// with their receipt, and receive parcels.
"use strict";

let handout = null; // {code, label} waiting for the ID check's outcome

const SCREEN = {
  roles: ["staff"],
  onSignedIn: () => $("code").focus(),
  onSignedOut: () => {
    handout = null;
    $("id-check").hidden = true;
    clearFindings();
  },
  onLanguage: () => paintFindings(),
};

function fieldsOrSay(...ids) {
  const values = ids.map((id) => $(id).value.trim());
  const empty = ids.find((id, i) => !values[i]);
  if (empty) {
    say("err", () => t("s_empty"));
    $(empty).focus();
    return null;
  }
  return values;
}

async function handOut(idCheck = null) {
  const payload = { code: handout.code, label: handout.label };
  if (idCheck) payload.id_check = idCheck;
  say("busy", () => t("s_working"));
  const { ok, body } = await call("POST", "/api/v1/counter/handout", payload);
  if (ok && body) {
    handout = null;
    $("id-check").hidden = true;
    clearFindings();
    $("code").value = "";
    $("label").value = "";
    say("ok", () => t("n_handedOut"));
    $("code").focus();
  } else if (STAFF.session && reasonOf(body) === "ID_CHECK_NEEDED") {
    if ($("id-check").hidden) clearFindings();
    $("id-check").hidden = false;
    say("warn", () => refusalText(body));
    document.querySelector("[data-id-check=passed]").focus();
  } else if (STAFF.session) {
    $("id-check").hidden = true;
    say("err", () => refusalText(body));
  }
}

async function startHandout(event) {
  event.preventDefault();
  const values = fieldsOrSay("code", "label");
  if (!values) return;
  handout = { code: values[0], label: values[1] };
  await handOut();
}

async function acceptReturn(event) {
  event.preventDefault();
  const values = fieldsOrSay("return-code", "return-label");
  if (!values) return;
  const { ok, body } = await call("POST", "/api/v1/counter/return", {
    code: values[0],
    label: values[1],
  });
  if (ok && body) {
    $("return-code").value = "";
    $("return-label").value = "";
    $("return-title").dataset.receipt = body.receipt;
    say("ok", () => t("n_accepted", { receipt: body.receipt }));
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

async function receive(event) {
  event.preventDefault();
  const values = fieldsOrSay("receive-label");
  if (!values) return;
  const { ok, body } = await call("POST", "/api/v1/counter/receive", { label: values[0] });
  if (ok && body) {
    $("receive-label").value = "";
    say("ok", () => t("n_received", { order: body.order }));
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

$("handout-form").addEventListener("submit", startHandout);
$("return-form").addEventListener("submit", acceptReturn);
$("receive-form").addEventListener("submit", receive);
for (const b of document.querySelectorAll("[data-id-check]")) {
  b.addEventListener("click", () => handout && handOut(b.dataset.idCheck));
}
$("id-document").addEventListener("click", () => handout && readIdDocument(handout.label));
$("id-wallet").addEventListener("click", () => handout && readWallet(handout.label));
startStaffScreen();
