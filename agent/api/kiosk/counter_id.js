// The counter's ID buttons: "Check ID document" reads the MRZ or PDF417 in the counter camera's
// current frame, "Check wallet" the customer's wallet QR code and then the wallet itself
// (POST /api/v1/counter/id-check/document | wallet). The findings assist: staff still compare
// the photo and record the outcome with the ID check buttons. Uses staff.js's call/say.
"use strict";

let findings = null; // {kind: "document", assist} | {kind: "wallet", wallet}

function clearFindings() {
  findings = null;
  paintFindings();
}

function documentLines(a) {
  const lines = [[null, t(`n_find_kind_${a.kind}`)]];
  if (a.issuing_state) lines.push([null, t("n_find_state", { state: a.issuing_state })]);
  lines.push(
    a.check_digits_ok
      ? [true, t("n_find_digits_ok")]
      : [false, t("n_find_digits_bad", { fields: a.failed_checks.join(", ") })],
  );
  if (a.expired !== null) {
    lines.push(a.expired ? [false, t("n_find_expired")] : [true, t("n_find_valid")]);
  }
  if (a.age_ok !== null) {
    const age = a.min_age;
    lines.push(a.age_ok ? [true, t("n_find_age_ok", { age })] : [false, t("n_find_age_bad", { age })]);
  }
  if (a.name_matches !== null) {
    lines.push(a.name_matches ? [true, t("n_find_name_ok")] : [false, t("n_find_name_bad")]);
  }
  return lines;
}

function walletLines(w) {
  if (!w.passed) return [[false, t("n_wallet_bad", { reason: w.reason })]];
  const lines = [[true, t("n_wallet_ok", { age: w.min_age })]];
  lines.push([null, `${w.document} (${w.issuer_country || "?"})`]);
  if (w.recipient_checked) lines.push([true, t("n_find_name_ok")]);
  return lines;
}

function paintFindings() {
  const list = $("id-findings");
  list.replaceChildren();
  list.hidden = !findings;
  if (!findings) return;
  const lines = findings.kind === "document" ? documentLines(findings.assist) : walletLines(findings.wallet);
  for (const [good, text] of lines) {
    const item = element("li", { textContent: text });
    if (good !== null) item.className = good ? "good" : "bad";
    list.appendChild(item);
  }
}

async function readIdFromCamera(path, label, take) {
  clearFindings();
  say("busy", () => t("n_idReading"));
  const { ok, body } = await call("POST", path, { label });
  if (ok && body) {
    findings = take(body);
    paintFindings();
    say("warn", () => t("n_idConfirm"));
    document.querySelector("[data-id-check=passed]").focus();
  } else if (STAFF.session) {
    say("err", () => refusalText(body));
  }
}

function readIdDocument(label) {
  return readIdFromCamera("/api/v1/counter/id-check/document", label, (body) => ({
    kind: "document",
    assist: body.assist,
  }));
}

function readWallet(label) {
  return readIdFromCamera("/api/v1/counter/id-check/wallet", label, (body) => ({
    kind: "wallet",
    wallet: body.wallet,
  }));
}
