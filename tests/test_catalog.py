"""The catalog's content: coherent, trilingual, and resolving the spellings partners use."""
from __future__ import annotations

import datetime as dt
import importlib.util
import re
import string
from pathlib import Path

import pytest
import yaml

from services.catalog import CATALOG_DIR, fold, load_catalog
from services.languages import LANGUAGES

ARABIC = re.compile("[\u0600-\u06ff]")
UNITS = {"event", "person", "permit", "count"}
# Reserved in SQL:2016, PostgreSQL or SQLite, plus column names the loader's tables may add.
RESERVED = set("""
    all alter and any array as asc between both by case cast check collate column constraint
    create cross current_date current_time current_user date day default delete desc distinct do
    drop else end except exists false fetch for foreign from full grant group having in index
    inner insert intersect into is join key leading left like limit month natural not null
    offset on or order outer overlaps placing primary references returning right row select
    session_user some symmetric table then to trailing true union unique update user using value
    values when where window with year id row_id submission_id institution source_row row_number
""".split())
MESSAGE_KEYS = """required bad_integer bad_decimal bad_date below_min above_max unknown_code too_long
    bad_pattern bad_boolean date_order age_mismatch exit_before_entry not_greater too_many_columns
    too_few_columns unknown_header missing_column duplicate_value empty_file not_text
    unrecognised_encoding no_header_match duplicate_file duplicate_column bad_csv load_failed""".split()
PLACEHOLDERS = {"field", "value", "expected", "found", "min", "max", "codelist", "max_length", "before",
                "after", "age", "birth_date", "part", "whole", "header", "dataset", "sha256",
                "submission", "detail", "row", "reference", "count", "kind",
                # reading the file (services/ingest/reader.py)
                "encoding", "candidates", "sample", "char", "position", "sheet", "sheets", "cell", "range",
                "cells", "size", "limit"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def raw_yaml(kind: str):
    for path in sorted((CATALOG_DIR / kind).glob("*.yaml")):
        yield path, yaml.safe_load(path.read_text(encoding="utf-8"))


def test_catalog_loads_with_the_expected_datasets(catalog):
    assert set(catalog.datasets) >= {
        "border_crossings", "residence_permits", "work_permits", "placements_abroad",
        "consular_registrations", "returnees", "asylum_refugees", "interceptions",
    }


@pytest.mark.parametrize("code", sorted(p.stem for p in (CATALOG_DIR / "datasets").glob("*.yaml")))
def test_dataset_texts_are_trilingual(catalog, code):
    ds = catalog.datasets[code]
    assert ds.unit in UNITS
    for lang in LANGUAGES:
        assert ds.names.get(lang, "").strip(), f"{code}: no name in {lang}"
        assert ds.description.get(lang, "").strip(), f"{code}: no description in {lang}"
        for f in ds.fields:
            assert f.labels.get(lang, "").strip(), f"{code}.{f.name}: no label in {lang}"
    for f in ds.fields:
        assert ARABIC.search(f.labels["ar"]), f"{code}.{f.name}: Arabic label without Arabic"


@pytest.mark.parametrize("code", sorted(p.stem for p in (CATALOG_DIR / "datasets").glob("*.yaml")))
def test_field_names_are_safe_column_names(catalog, code):
    for f in catalog.datasets[code].fields:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), f.name
        assert f.name not in RESERVED, f"{code}.{f.name} is an SQL reserved word"


@pytest.mark.parametrize("code", sorted(p.stem for p in (CATALOG_DIR / "datasets").glob("*.yaml")))
def test_every_header_spelling_means_one_field(catalog, code):
    owner: dict[str, str] = {}
    for f in catalog.datasets[code].fields:
        for spelling in (f.name, *f.aliases, *f.labels.values()):
            assert owner.setdefault(fold(spelling), f.name) == f.name, \
                f"{code}: header {spelling!r} means both {owner[fold(spelling)]} and {f.name}"


@pytest.mark.parametrize("code", sorted(p.stem for p in (CATALOG_DIR / "datasets").glob("*.yaml")))
def test_rules_join_fields_of_the_right_types(catalog, code):
    ds = catalog.datasets[code]
    types = {f.name: f.type for f in ds.fields}
    for rule in ds.rules:
        p = rule.params
        if rule.kind == "date_order":
            assert types[p["before"]] == types[p["after"]] == "date"
        elif rule.kind == "not_greater":
            assert types[p["part"]] in ("integer", "decimal") and types[p["whole"]] in ("integer", "decimal")
        elif rule.kind == "age_matches_birth_date":
            assert types[p["age"]] == "integer" and types[p["birth_date"]] == "date"
            assert types[p.get("reference", p["birth_date"])] == "date"
        elif rule.kind == "exit_not_before_entry":
            direction = ds.field(p["direction"])
            assert set(catalog.codelists[direction.codelist].codes) >= {"ENTRY", "EXIT"}


def test_personal_data_is_flagged(catalog):
    personal = {"person_id", "family_name", "given_name", "birth_date", "passport_number",
                "national_id_number", "document_number", "permit_number", "case_id", "registration_id"}
    for ds in catalog.datasets.values():
        for f in ds.fields:
            if f.name in personal:
                assert f.identifies_person, f"{ds.code}.{f.name} should be marked identifies_person"
            if f.type == "code" or f.name in ("age", "sex"):
                assert not f.identifies_person, f"{ds.code}.{f.name} is not personal on its own"


def test_interceptions_are_aggregate_counts(catalog):
    ds = catalog.datasets["interceptions"]
    assert ds.unit == "count"
    assert not any(f.identifies_person for f in ds.fields)
    assert not any(f.type == "string" for f in ds.fields)
    counts = {"persons", "minors", "women", "deaths", "missing"}
    assert counts <= set(ds.field_names)
    for name in counts:
        assert ds.field(name).type == "integer" and ds.field(name).min == 0
    pairs = {(r.params["part"], r.params["whole"]) for r in ds.rules if r.kind == "not_greater"}
    assert {("minors", "persons"), ("women", "persons")} <= pairs


def test_date_order_rules_where_a_period_has_two_ends(catalog):
    def orders(code):
        return {(r.params["before"], r.params["after"]) for r in catalog.datasets[code].rules if r.kind == "date_order"}

    assert ("issue_date", "expiry_date") in orders("residence_permits")
    assert ("issue_date", "expiry_date") in orders("work_permits")
    assert ("registration_date", "decision_date") in orders("asylum_refugees")


def test_codelist_yaml_holds_strings_only():
    # YAML 1.1 reads NO (Norway) as false and 11 as an integer: every code, label and alias
    # must have been written so that it comes back as text.
    for path, data in raw_yaml("codelists"):
        for item in data["items"]:
            assert isinstance(item["code"], str), f"{path.name}: code {item['code']!r}"
            for spelling in (*item["labels"].values(), *item.get("aliases", ())):
                assert isinstance(spelling, str), f"{path.name} {item['code']}: {spelling!r}"


def test_codelists_are_trilingual_with_unique_codes(catalog):
    for cl in catalog.codelists.values():
        assert len(cl.codes) == len(set(cl.codes)), cl.code
        for lang in LANGUAGES:
            assert cl.names.get(lang, "").strip(), f"{cl.code}: no name in {lang}"
        for item in cl.items:
            for lang in LANGUAGES:
                assert item["labels"].get(lang, "").strip(), f"{cl.code} {item['code']}: no {lang} label"
            assert ARABIC.search(item["labels"]["ar"]), f"{cl.code} {item['code']}: Arabic label without Arabic"


def test_countries_cover_iso_3166_with_arabic_names(catalog):
    countries = catalog.codelists["countries"]
    assert len(countries.codes) >= 249
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in countries.codes)
    assert {"XXA", "XXX"} <= set(countries.codes)  # stateless, unknown
    pycountry = pytest.importorskip("pycountry")
    assert {c.alpha_3 for c in pycountry.countries} <= set(countries.codes)


@pytest.mark.parametrize("spelling, code", [
    ("Tunisie", "TUN"), ("تونس", "TUN"), ("tn", "TUN"), (" TUNISIA ", "TUN"), ("TUN", "TUN"),
    ("Tunisienne", "TUN"), ("Libye", "LBY"), ("ليبيا", "LBY"), ("Lybie", "LBY"),
    ("Côte d'Ivoire", "CIV"), ("Cote d'Ivoire", "CIV"), ("Côte d’Ivoire", "CIV"), ("ساحل العاج", "CIV"),
    ("Syrie", "SYR"), ("سوريا", "SYR"), ("سورية", "SYR"), ("Palestine", "PSE"), ("فلسطين", "PSE"),
    ("Algérie", "DZA"), ("algerie", "DZA"), ("الجزائر", "DZA"), ("Soudan", "SDN"),
    ("Guinée Conakry", "GIN"), ("Guinée Bissau", "GNB"), ("RDC", "COD"), ("Congo", "COG"),
    ("Etats-Unis", "USA"), ("أمريكا", "USA"), ("Turquie", "TUR"), ("تركيا", "TUR"),
    ("NO", "NOR"), ("Apatride", "XXA"), ("Inconnue", "XXX"),
])
def test_country_spellings_resolve(catalog, spelling, code):
    assert catalog.codelists["countries"].resolve(spelling) == code


def test_ambiguous_country_spellings_do_not_resolve(catalog):
    countries = catalog.codelists["countries"]
    for spelling in ("Korea", "Corée", "Congolais", "Virgin Islands"):
        assert countries.resolve(spelling) is None, spelling


def test_countries_yaml_is_what_the_build_script_writes():
    pytest.importorskip("pycountry")
    script = CATALOG_DIR / "tools" / "build_countries.py"
    spec = importlib.util.spec_from_file_location("build_countries", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "codelists/countries.yaml differs from build_countries.py's output"


GOVERNORATES = {
    "TN-11": "Tunis", "TN-12": "Ariana", "TN-13": "Ben Arous", "TN-14": "Manouba", "TN-21": "Nabeul",
    "TN-22": "Zaghouan", "TN-23": "Bizerte", "TN-31": "Béja", "TN-32": "Jendouba", "TN-33": "Kef",
    "TN-34": "Siliana", "TN-41": "Kairouan", "TN-42": "Kasserine", "TN-43": "Sidi Bouzid",
    "TN-51": "Sousse", "TN-52": "Monastir", "TN-53": "Mahdia", "TN-61": "Sfax", "TN-71": "Gafsa",
    "TN-72": "Tozeur", "TN-73": "Kébili", "TN-81": "Gabès", "TN-82": "Médenine", "TN-83": "Tataouine",
}


def test_the_24_governorates_with_their_iso_codes(catalog):
    governorates = catalog.codelists["governorates"]
    assert set(governorates.codes) == set(GOVERNORATES)
    for code, name in GOVERNORATES.items():
        assert governorates.resolve(name) == code, name


@pytest.mark.parametrize("spelling, code", [
    ("Béja", "TN-31"), ("Beja", "TN-31"), ("باجة", "TN-31"), ("Kef", "TN-33"), ("Le Kef", "TN-33"),
    ("El Kef", "TN-33"), ("الكاف", "TN-33"), ("La Manouba", "TN-14"), ("Medenine", "TN-82"),
    ("Gabes", "TN-81"), ("61", "TN-61"), ("tn-83", "TN-83"), ("القيروان", "TN-41"),
])
def test_governorate_spellings_resolve(catalog, spelling, code):
    assert catalog.codelists["governorates"].resolve(spelling) == code


def test_border_posts_point_to_governorates_and_neighbours(catalog):
    posts = catalog.codelists["border_posts"]
    governorates = set(catalog.codelists["governorates"].codes)
    countries = set(catalog.codelists["countries"].codes)
    kinds = set()
    for item in posts.items:
        attrs = item["attributes"]
        kinds.add(attrs["type"])
        assert attrs["governorate"] in governorates, item["code"]
        if attrs["type"] == "land":
            assert attrs["neighbour"] in {"DZA", "LBY"} and attrs["neighbour"] in countries, item["code"]
        else:
            assert attrs["neighbour"] is None, item["code"]
    assert kinds == {"air", "sea", "land"}
    for spelling, code in [("TUN", "AIR_TUN"), ("Ras Jedir", "LAND_RAS_JEDIR"), ("Dhehiba", "LAND_DEHIBA"),
                           ("La Goulette", "SEA_LA_GOULETTE"), ("Melloula", "LAND_MELLOULA"),
                           ("Hazoua", "LAND_HAZOUA"), ("DJE", "AIR_DJE")]:
        assert posts.resolve(spelling) == code


def test_age_groups_are_contiguous_five_year_bands(catalog):
    groups = catalog.codelists["age_groups"].items
    expected_min = 0
    for item in groups[:-1]:
        low, high = item["attributes"]["min"], item["attributes"]["max"]
        assert (low, high) == (expected_min, expected_min + 4)
        assert item["code"] == f"Y{low}T{high}"
        expected_min += 5
    last = groups[-1]
    assert last["code"] == "Y_GE85" and last["attributes"] == {"min": 85, "max": None}
    assert catalog.codelists["age_groups"].resolve("85+") == "Y_GE85"
    assert catalog.codelists["age_groups"].resolve("25-29") == "Y25T29"


def test_economic_sectors_are_the_isic_sections(catalog):
    assert catalog.codelists["economic_sectors"].codes == list(string.ascii_uppercase[:21])


def test_every_message_exists_in_three_languages_with_the_same_placeholders(catalog):
    fmt = string.Formatter()
    assert set(MESSAGE_KEYS) <= set(catalog.messages)
    for key, texts in catalog.messages.items():
        names = {}
        for lang in LANGUAGES:
            assert texts.get(lang, "").strip(), f"{key}: no {lang} text"
            names[lang] = {name for _, name, _, _ in fmt.parse(texts[lang]) if name}
        assert names["ar"] == names["fr"] == names["en"], f"{key}: placeholders differ {names}"
        assert names["en"] <= PLACEHOLDERS, f"{key}: undocumented placeholders {names['en'] - PLACEHOLDERS}"
        assert ARABIC.search(texts["ar"])
        params = {name: "x" for name in PLACEHOLDERS}
        for lang in LANGUAGES:
            assert "{" not in catalog.message(key, lang, **params)


def test_messages_read_as_sentences(catalog):
    text = catalog.message("bad_date", "fr", value="31/02/2024", expected="jj/mm/aaaa ou aaaa-mm-jj")
    assert "31/02/2024" in text and "jj/mm/aaaa" in text
    text = catalog.message("duplicate_file", "ar", sha256="ab12", submission=7)
    assert "ab12" in text and "7" in text
    text = catalog.message("not_greater", "en", part="Of whom minors", whole="Number of persons")
    assert text == '"Of whom minors" cannot exceed "Number of persons".'


def test_bounds_are_dates_or_today(catalog):
    for ds in catalog.datasets.values():
        for f in ds.fields:
            if f.type == "date":
                for bound in (f.min, f.max):
                    assert bound is None or bound == "today" or isinstance(bound, dt.date), (ds.code, f.name)
                low, high = f.bounds()
                assert low is None or high is None or low <= high


def test_a_loader_error_names_the_colliding_spelling(tmp_path: Path):
    (tmp_path / "codelists").mkdir()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "codelists" / "countries.yaml").write_text(
        "code: countries\nitems:\n"
        "  - {code: COG, labels: {en: Congo}}\n"
        "  - {code: COD, labels: {en: DR Congo}, aliases: [congo]}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="congo"):
        load_catalog(tmp_path)
