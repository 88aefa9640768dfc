"""The portal's translations: every visible string extracted, translated into Arabic and French,
with the same placeholders, and the committed .mo files compiled from the current .po files."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

PORTAL = Path(__file__).resolve().parents[1] / "portal"
TRANSLATIONS = PORTAL / "translations"
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]  # as in portal/babel.cfg
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def read(path: Path, locale=None):
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def test_babel_cfg_matches_the_extraction_used_here():
    cfg = (PORTAL / "babel.cfg").read_text()
    for pattern, method in METHODS:
        assert f"[{method}: {pattern}]" in cfg


def test_the_template_lists_every_string_the_portal_shows():
    extracted = {message for _, _, message, _, _ in extract_from_dir(str(PORTAL), METHODS, keywords=KEYWORDS)}
    template = {m.id for m in read(TRANSLATIONS / "messages.pot") if m.id}
    assert extracted - template == set(), "run the pybabel extract/update of portal/babel.cfg"


@pytest.mark.parametrize("lang", ["ar", "fr"])
def test_every_string_is_translated_with_the_same_placeholders(lang):
    template = {m.id for m in read(TRANSLATIONS / "messages.pot") if m.id}
    catalog = read(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", locale=lang)
    translated = {m.id: m.string for m in catalog if m.id}
    assert template - set(translated) == set()
    for msgid, text in translated.items():
        assert text, f"{lang}: untranslated {msgid!r}"
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgid)), (lang, msgid)
    assert not any("fuzzy" in m.flags for m in catalog if m.id)
    if lang == "ar":
        assert all(re.search(r"[\u0600-\u06FF]", text) or not re.search(r"[a-z]{4}", msgid)
                   for msgid, text in translated.items()), "an Arabic entry left in Latin script"


@pytest.mark.parametrize("lang", ["ar", "fr"])
def test_compiled_catalog_matches_the_po_file(lang):
    folder = TRANSLATIONS / lang / "LC_MESSAGES"
    po = {m.id: m.string for m in read(folder / "messages.po", locale=lang) if m.id}
    with (folder / "messages.mo").open("rb") as fh:
        mo = {m.id: m.string for m in read_mo(fh) if m.id}
    assert mo == po, "run: .venv/bin/pybabel compile -d portal/translations"
