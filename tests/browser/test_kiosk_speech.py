"""Speech that works on a Debian kiosk: Chromium with `--enable-speech-dispatcher` reaches
espeak-ng's voices through speech-dispatcher (docs/deployment.md), and the kiosk speaks each
outcome with a voice of the page's language."""

from __future__ import annotations

import shutil

import pytest

from tests.agent.conftest import RunningAgent
from tests.browser.cdp import chromium_page
from tests.browser.kiosk import BROWSER_TESTS, open_kiosk, type_code, wait_for_result

pytestmark = [
    *BROWSER_TESTS,
    pytest.mark.skipif(
        shutil.which("speech-dispatcher") is None or shutil.which("espeak-ng") is None,
        reason="speech-dispatcher and espeak-ng are not installed (apt-get install "
        "speech-dispatcher speech-dispatcher-espeak-ng espeak-ng)",
    ),
]

# Keeps each utterance's language and voice, then lets speech-dispatcher speak it.
SPOKEN_JS = """
(() => {
  window.__spoken = [];
  const speak = speechSynthesis.speak.bind(speechSynthesis);
  speechSynthesis.speak = (u) => {
    window.__spoken.push({ lang: u.lang, voice: u.voice ? u.voice.lang : null, text: u.text });
    speak(u);
  };
  return true;
})()
"""


async def test_outcomes_are_spoken_with_a_voice_of_each_language(locker: RunningAgent) -> None:
    async with chromium_page(extra_flags=("--enable-speech-dispatcher",)) as page:
        await open_kiosk(page, locker.url)
        await page.wait_for("speechSynthesis.getVoices().length > 0", within_s=10)
        await page.evaluate(SPOKEN_JS)
        for lang, words in (
            ("en", "wasn't recognised"),
            ("de", "nicht erkannt"),
            ("pl", "Nie rozpoznano"),
            ("fr", "pas été reconnu"),
        ):
            await page.click(f"#languages button[data-lang={lang}]")
            await type_code(page, "ZZZZ-ZZZZ")
            await wait_for_result(page, words)
            said = await page.wait_for(
                f"(() => {{ const s = window.__spoken.filter((u) => u.lang === '{lang}' "
                f"&& u.text.includes({words!r})); return s.length && s[s.length - 1]; }})()"
            )
            assert said["voice"].lower().split("-")[0] == lang, said
        # (whether the sound reaches a speaker needs an audio device, which CI does not have)
        assert page.exceptions == []
