"""Every screen's words exist in every language: each text key English has, and a text for every
reason code the agent can return (read from `agent/reasons.py`, so a reason added there without
its words fails here)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from agent.api.kiosk_routes import kiosk_languages

ROOT = Path(__file__).resolve().parents[2]
WORDS = ROOT / "agent" / "api" / "kiosk" / "i18n"
# Every language file there: a new language is one new file, and these tests cover it at once.
LANGUAGES = tuple(sorted(p.stem for p in WORDS.glob("*.json")))
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def reason_codes() -> list[str]:
    """The members of `class Reason` in agent/reasons.py, parsed (not imported) from the source."""
    tree = ast.parse((ROOT / "agent" / "reasons.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Reason":
            return [
                target.id
                for statement in node.body
                if isinstance(statement, ast.Assign)
                for target in statement.targets
                if isinstance(target, ast.Name)
            ]
    raise AssertionError("agent/reasons.py has no class Reason")


def words(lang: str) -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads(
        (WORDS / f"{lang}.json").read_text(encoding="utf-8")
    )
    return loaded


def test_the_reason_list_is_read_from_the_source() -> None:
    codes = reason_codes()
    assert {"CODE_UNKNOWN", "ALREADY_USED", "NOT_AUTHORISED"} <= set(codes)
    assert len(codes) == len(set(codes))


def test_the_offered_languages_are_the_files_there() -> None:
    assert {"en", "de", "pl", "fr"} <= set(LANGUAGES)
    first = ["en", "de", "pl", "fr"]
    assert kiosk_languages() == [*first, *sorted(set(LANGUAGES) - set(first))]
    common = (ROOT / "agent" / "api" / "kiosk" / "common.js").read_text(encoding="utf-8")
    assert 'fetch("/kiosk/languages.json")' in common  # the screens ask, they keep no list


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_reason_has_words_in_every_language(lang: str) -> None:
    reasons = words(lang)["reasons"]
    missing = [code for code in reason_codes() if not reasons.get(code, "").strip()]
    assert missing == [], f"{lang}.json has no words for {missing}"
    # the support reference is added by the screen, from the error's `ref` field
    assert [code for code, text in reasons.items() if "ref" in PLACEHOLDER.findall(text)] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_exists_with_the_same_placeholders(lang: str) -> None:
    english, own = words("en")["text"], words(lang)["text"]
    assert sorted(own) == sorted(english), f"{lang}.json: keys differ from en.json"
    for key, text in english.items():
        assert own[key].strip(), f"{lang}.json: {key} is empty"
        assert sorted(PLACEHOLDER.findall(own[key])) == sorted(PLACEHOLDER.findall(text)), key
    if lang != "en":
        same = [k for k in english if own[k] == english[k] and k != "langName"]
        assert len(same) <= 5, f"{lang}.json: left in English: {same}"
