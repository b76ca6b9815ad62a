// The kiosk's two widgets: the on-screen keypad in the typed codes' alphabet, and the small map
// of the locker's door columns that shows where a door is. Loaded before kiosk.js.
"use strict";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // the typed codes' Crockford alphabet

// -- where a door is: columns = [[{door, low}], ...], each column from the top ----------------

function place(columns, door) {
  for (let c = 0; c < columns.length; c += 1) {
    const row = columns[c].findIndex((d) => d.door === door);
    if (row >= 0) return { column: c + 1, row, low: columns[c][row].low };
  }
  return null;
}

function whereText(columns, door) {
  const found = place(columns, door);
  if (!found) return "";
  const vars = { column: found.column, columns: columns.length, row: found.row + 1 };
  if (found.low) return t("whereLow", vars);
  return t(found.row === 0 ? "whereTop" : "whereMiddle", vars);
}

function drawMap(map, columns, door) {
  map.replaceChildren();
  for (const column of columns) {
    const col = document.createElement("div");
    col.className = "map-column";
    for (const d of column) {
      const cell = document.createElement("span");
      cell.className = d.door === door ? "map-door here" : "map-door";
      cell.textContent = String(d.door);
      col.appendChild(cell);
    }
    map.appendChild(col);
  }
}

// -- the keypad: the hyphen after four characters is only for reading ---------------------------

function pressKey(input, key) {
  let raw = input.value.toUpperCase().replace(/[^0-9A-Z]/g, "");
  if (key === "delete") raw = raw.slice(0, -1);
  else if (key === "clear") raw = "";
  else if (raw.length < 8) raw += key;
  input.value = raw.length > 4 ? `${raw.slice(0, 4)}-${raw.slice(4)}` : raw;
  input.removeAttribute("aria-invalid");
}

function buildKeypad(pad, input, onPress) {
  const keys = [...ALPHABET].map((ch) => [ch, ch, null]);
  keys.push(["delete", "keyDelete", "keyDeleteName"], ["clear", "keyClear", "keyClearName"]);
  for (const [key, label, name] of keys) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.key = key;
    // a keyboard user types into the field: the keypad is for pointers, so Tab skips it
    button.tabIndex = -1;
    if (name) {
      button.className = "key-wide";
      button.dataset.i18n = label;
      button.dataset.i18nLabel = name;
    } else {
      button.textContent = label;
    }
    // keep the caret in the field, so a physical keyboard goes on where the keypad stopped
    button.addEventListener("pointerdown", (event) => event.preventDefault());
    button.addEventListener("click", () => {
      pressKey(input, key);
      onPress(key);
    });
    pad.appendChild(button);
  }
}
