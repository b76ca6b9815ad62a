"""What the browser tests do on the kiosk page, in a person's terms (type a code, read the result),
and the page checks a person would notice (labels, target sizes, contrast, focus)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.browser.cdp import CHROMIUM, CdpPage

BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is not installed (`make test` installs Debian's chromium)",
    ),
]

RESULT_TEXT = "document.getElementById('result-text').textContent"


async def open_kiosk(page: CdpPage, url: str) -> None:
    """Load the kiosk and wait until it follows the scan feed (camera outcomes reach it)."""
    await page.open(url)
    await page.wait_for("document.documentElement.dataset.feed === 'live'")


async def type_code(page: CdpPage, code: str) -> None:
    """Type into the code field as a keyboard would and press Enter."""
    await page.evaluate(
        "(() => { const c = document.getElementById('code'); c.focus(); c.select(); })()"
    )
    await page.type_text(code)
    await page.press("Enter")


async def wait_for_result(page: CdpPage, contains: str, *, within_s: float = 8.0) -> str:
    """The result region's headline once it contains `contains`."""
    text: str = await page.wait_for(
        f"(() => {{ const t = {RESULT_TEXT}; return t.includes({json.dumps(contains)}) && t; }})()",
        within_s=within_s,
    )
    return text


async def visible_text(page: CdpPage) -> str:
    text: str = await page.evaluate("document.body.innerText")
    return text


async def is_shown(page: CdpPage, element_id: str) -> bool:
    shown: bool = await page.evaluate(
        f"(() => {{ const e = document.getElementById({json.dumps(element_id)}); "
        "return !!e && e.getClientRects().length > 0; })()"
    )
    return shown


# Problems a customer would meet: controls without a name, targets under 48 px, text whose
# contrast with what is behind it is under WCAG AA (4.5:1, or 3:1 for large text).
AUDIT_JS = r"""
(() => {
  const problems = [];
  const shown = (el) =>
    el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(",").map(Number);
    return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c.rgb;
    }
    return [255, 255, 255];
  };
  const contrast = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  for (const el of document.querySelectorAll("button, input, select, textarea, summary, a[href]")) {
    if (!shown(el)) continue;
    const labelled = el.labels && el.labels.length ? el.labels[0].textContent : "";
    const name = (labelled || el.getAttribute("aria-label") || el.textContent || "").trim();
    if (!name) problems.push(`${el.tagName}#${el.id} has no label`);
    const r = el.getBoundingClientRect();
    if (r.width < 48 || r.height < 48) {
      problems.push(`"${name}" is ${Math.round(r.width)}x${Math.round(r.height)} px`);
    }
  }
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el)) continue;
    const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!hasText) continue;
    const style = getComputedStyle(el);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const got = contrast(parse(style.color).rgb, behind(el));
    if (got < (large ? 3 : 4.5)) {
      problems.push(`"${el.textContent.trim().slice(0, 30)}" has contrast ${got.toFixed(2)}`);
    }
  }
  return problems;
})()
"""

FOCUS_RING_JS = r"""
(() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2;
  return { id: el.id || el.textContent.trim(), ring: outline || s.boxShadow !== "none" };
})()
"""


async def press_keypad(page: CdpPage, code: str) -> None:
    """Enters `code` with the on-screen keypad, by mouse clicks alone (hyphens are not keys)."""
    for ch in code.replace("-", ""):
        await page.click(f"#keypad button[data-key={json.dumps(ch)}]")


# The kiosk speaks through speechSynthesis: keep what it says, to check it in a test.
RECORD_SPEECH_JS = """
(() => {
  window.__spoken = [];
  window.speechSynthesis.speak = (u) => window.__spoken.push({ lang: u.lang, text: u.text });
  return true;
})()
"""


async def spoken(page: CdpPage) -> list[dict[str, str]]:
    said: list[dict[str, str]] = await page.evaluate("window.__spoken || []")
    return said


NO_SIDEWAYS_SCROLL_JS = "document.documentElement.scrollWidth <= window.innerWidth"


AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
# Skipped only outside CI (a bare `pytest` run); under CI (`make test` installs it) it must run.
AXE_TESTS = [
    pytest.mark.skipif(
        not AXE_JS.exists() and not os.environ.get("CI"),
        reason=f"{AXE_JS} is missing (`make test` installs it: npm ci in tests/browser)",
    )
]

# The serious and critical violations axe-core finds on the page as it is now.
AXE_RUN_JS = """
(async () => {
  const found = await axe.run(document, { resultTypes: ["violations"] });
  return found.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => {
      const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ");
      return `${v.impact} ${v.id}: ${where}`;
    });
})()
"""


async def axe_problems(page: CdpPage) -> list[str]:
    """Injects axe-core (once per page load) and runs it."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        source = await asyncio.to_thread(AXE_JS.read_text, encoding="utf-8")
        await page.evaluate(source)
    problems: list[str] = await page.evaluate(AXE_RUN_JS)
    return problems
