"""`marsad synth`: synthetic files are reproducible, valid when clean, and wrong exactly where recorded.

The checker below is written from the catalog's README, independently of the generator and
of the ingestion validator, so a bug shared by the two would not hide here.
"""
from __future__ import annotations

import collections
import csv
import datetime as dt
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.catalog import Catalog, Dataset, load_catalog
from services.cli.synth import synth as synth_command
from services.synth import ERROR_KINDS, default_year, generate_rows, write_file

CATALOG = load_catalog()
YEAR = default_year()
TODAY = dt.date.today()
DATASETS = sorted(CATALOG.datasets)
ARABIC_INDIC = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")
ARABIC_LETTER = re.compile("[\u0621-\u064a]")


# -- an independent checker ----------------------------------------------------------------

def _text(raw: str) -> str:
    return " ".join(raw.translate(ARABIC_INDIC).split())


def _date(text: str) -> dt.date:
    """yyyy-mm-dd, yyyy/mm/dd, or d/m/yyyy with / - or . between."""
    m = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text)
    if m:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if m:
        return dt.date(int(m[3]), int(m[2]), int(m[1]))
    raise ValueError(text)


def _bounds(field):
    return tuple(TODAY if b == "today" else b for b in (field.min, field.max))


def _cell(field, raw: str, catalog: Catalog, strict: bool):
    """(value, problem kind or None). strict: the spelling must be the canonical one."""
    if strict and raw != raw.strip():
        return None, "stray_space"
    text = _text(raw)
    if not text:
        return None, "required" if field.required else None
    lo, hi = _bounds(field)
    if field.type == "code":
        codelist = catalog.codelists[field.codelist]
        if strict:
            return (text, None) if text in codelist.codes else (None, "unknown_code")
        code = codelist.resolve(text)
        return (code, None) if code else (None, "unknown_code")
    if field.type == "date":
        try:
            value = _date(text)
        except ValueError:
            return None, "bad_date"
        if strict and raw != value.isoformat() and raw != value.strftime("%d/%m/%Y"):
            return None, "not_canonical"
    elif field.type == "integer":
        try:
            value = int(text)
        except ValueError:
            return None, "bad_integer"
    elif field.type == "decimal":
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            return None, "bad_decimal"
    elif field.type == "boolean":
        folded = text.casefold()
        if folded in ("true", "1", "yes", "oui", "نعم"):
            return True, None
        if folded in ("false", "0", "no", "non", "لا"):
            return False, None
        return None, "bad_boolean"
    else:
        if field.max_length and len(text) > field.max_length:
            return None, "too_long"
        if field.pattern and not re.fullmatch(field.pattern, text):
            return None, "bad_pattern"
        return text, None
    if lo is not None and value < lo:
        return None, "below_min"
    if hi is not None and value > hi:
        return None, "above_max"
    return value, None


def _age(birth: dt.date, when: dt.date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def check_rows(rows: list[list[str]], dataset: Dataset, catalog: Catalog, strict: bool = False):
    """Problems as {(row, field, kind)}, row being the spreadsheet row (header = 1)."""
    header, data = rows[0], rows[1:]
    assert header == dataset.field_names
    problems: set[tuple[int, str, str]] = set()
    typed_rows = []
    for index, cells in enumerate(data):
        row = index + 2
        values, bad = {}, False
        for field, raw in zip(dataset.fields, cells):
            value, kind = _cell(field, raw, catalog, strict)
            values[field.name] = value
            if kind:
                problems.add((row, field.name, kind))
                bad = True
        if bad:
            continue
        for rule in dataset.rules:
            p = rule.params
            if rule.kind == "date_order":
                before, after = values[p["before"]], values[p["after"]]
                if before and after and after < before:
                    problems.add((row, p["after"], "date_order"))
                    bad = True
            elif rule.kind == "age_matches_birth_date":
                age, birth = values[p["age"]], values[p["birth_date"]]
                when = values.get(p.get("reference")) or TODAY
                if age is not None and birth is not None and abs(_age(birth, when) - age) > int(p.get("tolerance", 1)):
                    problems.add((row, p["age"], "age_mismatch"))
                    bad = True
            elif rule.kind == "not_greater":
                part, whole = values[p["part"]], values[p["whole"]]
                if part is not None and whole is not None and part > whole:
                    problems.add((row, p["part"], "not_greater"))
                    bad = True
        if not bad:
            typed_rows.append((row, values))
    for rule in dataset.rules:
        if rule.kind != "exit_not_before_entry":
            continue
        p = rule.params
        crossings = collections.defaultdict(list)
        for row, values in typed_rows:
            if values[p["person"]]:
                crossings[values[p["person"]]].append(
                    (values[p["date"]], values[p["direction"]] != "ENTRY", row, values[p["direction"]]))
        for events in crossings.values():
            events.sort()
            for first, second in zip(events, events[1:]):
                if first[3] == "EXIT" and second[3] == "EXIT":
                    problems.add((second[2], p["date"], "exit_before_entry"))
    return problems, typed_rows


def read_csv(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[list[str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.reader(fh, delimiter=delimiter))


# -- reproducibility and shape -------------------------------------------------------------

@pytest.mark.parametrize("code", ["border_crossings", "residence_permits", "interceptions"])
def test_same_arguments_give_the_same_bytes(tmp_path, code):
    args = dict(rows=3000, year=YEAR, seed=42, error_rate=0.05, messiness=0.2)
    write_file(tmp_path / "a.csv", code, **args)
    write_file(tmp_path / "b.csv", code, **args)
    write_file(tmp_path / "c.csv", code, **{**args, "seed": 43})
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_xlsx_is_reproducible_too(tmp_path):
    for name in ("a.xlsx", "b.xlsx"):
        write_file(tmp_path / name, "returnees", rows=500, year=YEAR, seed=5, fmt="xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


@pytest.mark.parametrize("rows", [0, 1, 2, 999])
def test_row_count_is_exact(tmp_path, rows):
    summary = write_file(tmp_path / "f.csv", "border_crossings", rows=rows, year=YEAR, seed=1)
    assert summary.rows == rows
    assert len(read_csv(tmp_path / "f.csv")) == rows + 1


def test_generate_rows_streams():
    # a billion rows asked, five taken: nothing is built up front
    rows = generate_rows(CATALOG.dataset("border_crossings"), CATALOG, rows=10**9, year=YEAR, seed=1)
    first = [next(rows) for _ in range(5)]
    assert [list(r) for r in first] == [CATALOG.dataset("border_crossings").field_names] * 5
    assert all(isinstance(v, str) for r in first for v in r.values())


# -- clean data is valid -------------------------------------------------------------------

@pytest.mark.parametrize("code", DATASETS)
def test_clean_file_passes_every_field_constraint_and_rule(tmp_path, code):
    summary = write_file(tmp_path / "f.csv", code, rows=4000, year=YEAR, seed=11, messiness=0.0)
    assert summary.errors_injected == []
    rows = read_csv(tmp_path / "f.csv")
    problems, typed = check_rows(rows, CATALOG.dataset(code), CATALOG, strict=True)
    assert sorted(problems)[:10] == []
    assert len(typed) == 4000
    # optional fields are filled most of the time, and every required one always
    dataset = CATALOG.dataset(code)
    for f in dataset.fields:
        filled = sum(1 for _, v in typed if v[f.name] is not None)
        assert filled == 4000 if f.required else filled > 0, f.name


@pytest.mark.parametrize("code", DATASETS)
def test_messy_spellings_are_still_valid(tmp_path, code):
    write_file(tmp_path / "f.csv", code, rows=3000, year=YEAR, seed=12, messiness=0.6, date_style="dmy")
    rows = read_csv(tmp_path / "f.csv")
    problems, _ = check_rows(rows, CATALOG.dataset(code), CATALOG)
    assert sorted(problems)[:10] == []
    cells = [c for r in rows[1:] for c in r]
    assert any(re.search("[٠-٩]", c) for c in cells)  # Arabic-Indic digits
    assert any(c != c.strip() for c in cells)  # stray spaces
    assert strict_problems(rows, code)  # and so the messiness is really there


def strict_problems(rows, code):
    problems, _ = check_rows(rows, CATALOG.dataset(code), CATALOG, strict=True)
    return problems


def test_permits_expire_after_issue_and_ages_match_birth_dates(tmp_path):
    for code in ("residence_permits", "work_permits"):
        write_file(tmp_path / f"{code}.csv", code, rows=2000, year=YEAR, seed=3, messiness=0)
        rows = read_csv(tmp_path / f"{code}.csv")
        header = rows[0]
        for r in rows[1:]:
            v = dict(zip(header, r))
            issue, expiry = dt.date.fromisoformat(v["issue_date"]), dt.date.fromisoformat(v["expiry_date"])
            assert issue < expiry
            assert issue.year == YEAR
            if v.get("age") and v["birth_date"]:
                assert int(v["age"]) == _age(dt.date.fromisoformat(v["birth_date"]), issue)


def test_border_crossings_come_as_entry_exit_pairs(tmp_path):
    write_file(tmp_path / "f.csv", "border_crossings", rows=20000, year=YEAR, seed=4, messiness=0)
    rows = read_csv(tmp_path / "f.csv")
    problems, typed = check_rows(rows, CATALOG.dataset("border_crossings"), CATALOG, strict=True)
    assert not problems
    by_person = collections.defaultdict(list)
    for _, v in typed:
        by_person[v["person_id"]].append((v["event_date"], v["direction"]))
    pairs = [sorted(e) for e in by_person.values() if len(e) == 2]
    assert len(pairs) > 0.6 * len(by_person)  # most trips have both legs in the year
    assert all(len(e) <= 2 for e in by_person.values())
    visitors = [p for p in pairs if p[0][1] == "ENTRY"]
    assert visitors and all(p[1][1] == "EXIT" and p[1][0] > p[0][0] for p in visitors)
    assert all(re.fullmatch(r"P\d{10}", pid) for pid in by_person)


# -- realism ---------------------------------------------------------------------------------

def test_border_crossings_peak_in_summer(tmp_path):
    write_file(tmp_path / "f.csv", "border_crossings", rows=20000, year=YEAR, seed=5, messiness=0)
    rows = read_csv(tmp_path / "f.csv")
    months = collections.Counter(dt.date.fromisoformat(r[1]).month for r in rows[1:])
    assert months[7] + months[8] > 2 * (months[1] + months[2])
    nationalities = collections.Counter(r[8] for r in rows[1:])
    top = [code for code, _ in nationalities.most_common(3)]
    assert top == ["TUN", "LBY", "DZA"]
    posts = collections.Counter(r[3] for r in rows[1:])
    assert {code for code, _ in posts.most_common(2)} == {"AIR_TUN", "LAND_RAS_JEDIR"}


def test_interception_counts_peak_in_summer_on_the_coast(tmp_path):
    write_file(tmp_path / "f.csv", "interceptions", rows=5000, year=YEAR, seed=6, messiness=0)
    rows = read_csv(tmp_path / "f.csv")
    header = rows[0]
    per_month, per_governorate = collections.Counter(), collections.Counter()
    for r in rows[1:]:
        v = dict(zip(header, r))
        month = dt.date.fromisoformat(v["period_month"]).month
        per_month[month] += int(v["persons"])
        per_governorate[v["governorate"]] += int(v["persons"])
    assert per_month[7] + per_month[8] > 2 * (per_month[1] + per_month[2])
    assert per_governorate.most_common(1)[0][0] == "TN-61"  # Sfax


def test_sex_ratios_follow_the_dataset(tmp_path):
    def male_share(code):
        write_file(tmp_path / f"{code}.csv", code, rows=4000, year=YEAR, seed=7, messiness=0)
        rows = read_csv(tmp_path / f"{code}.csv")
        i = rows[0].index("sex")
        return sum(r[i] == "M" for r in rows[1:]) / (len(rows) - 1)

    assert male_share("placements_abroad") > 0.7
    assert male_share("returnees") > 0.8
    assert 0.35 < male_share("consular_registrations") < 0.7


def test_names_are_in_arabic_and_latin_script(tmp_path):
    write_file(tmp_path / "f.csv", "border_crossings", rows=5000, year=YEAR, seed=8, messiness=0)
    rows = read_csv(tmp_path / "f.csv")
    family = [r[6] for r in rows[1:] if r[8] == "TUN" and r[6]]
    arabic = sum(1 for name in family if ARABIC_LETTER.search(name))
    assert 0.1 * len(family) < arabic < 0.6 * len(family)


def test_some_persons_appear_in_several_datasets(tmp_path):
    def persons(code):
        write_file(tmp_path / f"{code}.csv", code, rows=20000, year=YEAR, seed=9, messiness=0)
        rows = read_csv(tmp_path / f"{code}.csv")
        h = rows[0]
        return {r[h.index("person_id")]: r[h.index("birth_date")] for r in rows[1:]}

    border, returns = persons("border_crossings"), persons("returnees")
    shared = set(border) & set(returns)
    assert shared
    # the same person: the same birth date wherever both sources wrote it
    assert all(border[p] == returns[p] for p in shared if border[p] and returns[p])


NEW_DATASET = """
code: scholarships
names: {ar: منح, fr: Bourses, en: Scholarships}
unit: person
fields:
  - {name: file_ref, labels: {en: Ref}, type: string, required: true, max_length: 12, pattern: "^[A-Z]{2}[0-9]+$"}
  - {name: person_id, labels: {en: Person}, type: string, required: true, max_length: 40}
  - {name: full_name, labels: {en: Name}, type: string, max_length: 60}
  - {name: citizenship, labels: {en: Citizenship}, type: code, codelist: countries, required: true}
  - {name: gender, labels: {en: Sex}, type: code, codelist: sex}
  - {name: age_group, labels: {en: Age group}, type: code, codelist: age_groups}
  - {name: application_date, labels: {en: Applied}, type: date, required: true, min: 2000-01-01, max: today}
  - {name: award_date, labels: {en: Awarded}, type: date, min: 2000-01-01, max: today}
  - {name: amount, labels: {en: Amount}, type: decimal, min: 100, max: 5000}
  - {name: renewed, labels: {en: Renewed}, type: boolean}
  - {name: students, labels: {en: Students}, type: integer, required: true, min: 1, max: 40}
  - {name: female_students, labels: {en: Female}, type: integer, min: 0}
rules:
  - {kind: date_order, before: application_date, after: award_date}
  - {kind: not_greater, part: female_students, whole: students}
"""


def test_a_dataset_no_profile_knows_gets_valid_data(tmp_path):
    # a new YAML file, no code: the catalog alone drives the generator
    import shutil

    from services.catalog import CATALOG_DIR

    shutil.copytree(CATALOG_DIR / "codelists", tmp_path / "cat" / "codelists")
    (tmp_path / "cat" / "datasets").mkdir()
    (tmp_path / "cat" / "datasets" / "scholarships.yaml").write_text(NEW_DATASET, encoding="utf-8")
    catalog = load_catalog(tmp_path / "cat")
    dataset = catalog.dataset("scholarships")
    summary = write_file(tmp_path / "f.csv", "scholarships", rows=2000, year=YEAR, seed=1, messiness=0,
                         catalog=catalog)
    rows = read_csv(tmp_path / "f.csv")
    problems, typed = check_rows(rows, dataset, catalog, strict=True)
    assert not problems and len(typed) == summary.rows == 2000
    assert len({v["file_ref"] for _, v in typed}) == 2000
    write_file(tmp_path / "g.csv", "scholarships", rows=2000, year=YEAR, seed=1, messiness=0.3, error_rate=0.1,
               catalog=catalog)
    found, _ = check_rows(read_csv(tmp_path / "g.csv"), dataset, catalog)
    recorded = write_file(tmp_path / "g.csv", "scholarships", rows=2000, year=YEAR, seed=1, messiness=0.3,
                          error_rate=0.1, catalog=catalog).errors_injected
    assert found == set(recorded)


# -- injected errors -----------------------------------------------------------------------

@pytest.mark.parametrize("code", DATASETS)
def test_injected_errors_are_where_recorded_and_nowhere_else(tmp_path, code):
    rows_asked = 3000
    summary = write_file(tmp_path / "f.csv", code, rows=rows_asked, year=YEAR, seed=21, error_rate=0.1)
    recorded = summary.errors_injected
    assert 0.08 * rows_asked < len(recorded) < 0.12 * rows_asked
    assert len({row for row, _, _ in recorded}) == len(recorded)  # one error per row
    assert {kind for _, _, kind in recorded} <= set(ERROR_KINDS)
    found, _ = check_rows(read_csv(tmp_path / "f.csv"), CATALOG.dataset(code), CATALOG)
    assert {(row, field) for row, field, _ in found} == {(row, field) for row, field, _ in recorded}
    # and the kinds agree, with range errors named by their side
    assert {(r, f, k) for r, f, k in found} == set(recorded)


@pytest.mark.parametrize("code", ["residence_permits", "border_crossings", "interceptions"])
def test_errors_change_only_the_recorded_rows(tmp_path, code):
    args = dict(rows=3000, year=YEAR, seed=31, messiness=0.1)
    write_file(tmp_path / "clean.csv", code, **args)
    summary = write_file(tmp_path / "dirty.csv", code, error_rate=0.2, **args)
    clean, dirty = read_csv(tmp_path / "clean.csv"), read_csv(tmp_path / "dirty.csv")
    changed = {i + 1 for i, (a, b) in enumerate(zip(clean, dirty)) if a != b}
    assert changed <= {row for row, _, _ in summary.errors_injected}
    assert len(changed) > 0.9 * len(summary.errors_injected)


def test_every_error_kind_occurs(tmp_path):
    kinds = set()
    for code in DATASETS:
        summary = write_file(tmp_path / f"{code}.csv", code, rows=2000, year=YEAR, seed=41, error_rate=0.3)
        kinds |= {kind for _, _, kind in summary.errors_injected}
    expected = {"required", "unknown_code", "bad_date", "above_max", "below_min", "too_long", "date_order",
                "age_mismatch", "not_greater", "exit_before_entry"}
    assert expected <= kinds


def test_error_kinds_can_be_restricted(tmp_path):
    # the whole-file exit check runs only on files without row errors: benchmarks ask for it alone
    summary = write_file(tmp_path / "f.csv", "border_crossings", rows=5000, year=YEAR, seed=42, error_rate=0.1,
                         error_kinds=["exit_before_entry"])
    assert summary.errors_injected
    assert {kind for _, _, kind in summary.errors_injected} == {"exit_before_entry"}
    found, _ = check_rows(read_csv(tmp_path / "f.csv"), CATALOG.dataset("border_crossings"), CATALOG)
    assert found == set(summary.errors_injected)
    with pytest.raises(ValueError):
        write_file(tmp_path / "g.csv", "border_crossings", rows=10, year=YEAR, seed=1, error_kinds=["typo"])


# -- encodings and formats -----------------------------------------------------------------

def test_cp1256_file_decodes_and_carries_arabic(tmp_path):
    summary = write_file(tmp_path / "f.csv", "border_crossings", rows=3000, year=YEAR, seed=51,
                         encoding="cp1256", delimiter=";", date_style="dmy", messiness=0.2)
    data = (tmp_path / "f.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("cp1256")
    assert ARABIC_LETTER.search(text)
    rows = read_csv(tmp_path / "f.csv", encoding="cp1256", delimiter=";")
    assert len(rows) == summary.rows + 1
    problems, _ = check_rows(rows, CATALOG.dataset("border_crossings"), CATALOG)
    assert not problems


def test_utf8_bom(tmp_path):
    write_file(tmp_path / "f.csv", "returnees", rows=10, year=YEAR, seed=1, encoding="utf-8-sig")
    assert (tmp_path / "f.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_xlsx_opens_with_the_header_and_rows(tmp_path):
    from openpyxl import load_workbook

    write_file(tmp_path / "f.xlsx", "residence_permits", rows=300, year=YEAR, seed=61, fmt="xlsx", messiness=0)
    sheet = load_workbook(tmp_path / "f.xlsx", read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == CATALOG.dataset("residence_permits").field_names
    assert len(rows) == 301
    ages = [r[rows[0].index("age")] for r in rows[1:] if r[rows[0].index("age")] is not None]
    assert ages and all(isinstance(a, int) for a in ages)  # numbers stay numbers in a spreadsheet
    text_rows = [["" if c is None else str(c) for c in r] for r in rows]
    problems, _ = check_rows(text_rows, CATALOG.dataset("residence_permits"), CATALOG)
    assert not problems


def test_dates_follow_the_date_style(tmp_path):
    write_file(tmp_path / "f.csv", "returnees", rows=200, year=YEAR, seed=71, date_style="dmy", messiness=0)
    rows = read_csv(tmp_path / "f.csv")
    i = rows[0].index("return_date")
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", r[i]) for r in rows[1:])


def test_a_year_in_the_future_is_refused(tmp_path):
    with pytest.raises(ValueError):
        write_file(tmp_path / "f.csv", "border_crossings", rows=10, year=TODAY.year + 1, seed=1)


# -- command line ------------------------------------------------------------------------------

def test_cli_writes_every_dataset_and_the_error_list(tmp_path):
    runner = CliRunner()
    result = runner.invoke(synth_command, ["--all", "-n", "200", "-o", str(tmp_path / "out"), "--error-rate", "0.1",
                                           "--errors-out", str(tmp_path / "errors.csv"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.csv")) == DATASETS
    errors = read_csv(tmp_path / "errors.csv")
    assert errors[0] == ["dataset", "row", "field", "kind"]
    assert len(errors) > 1 and {e[0] for e in errors[1:]} <= set(DATASETS)


def test_cli_single_dataset_prints_errors(tmp_path):
    runner = CliRunner()
    out = tmp_path / "bc.xlsx"
    result = runner.invoke(synth_command, ["-d", "border_crossings", "-n", "100", "--format", "xlsx", "-o", str(out),
                                           "--error-rate", "0.2"])
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert "row " in result.output and "wrote" in result.output
    bad = runner.invoke(synth_command, ["-d", "no_such_dataset"])
    assert bad.exit_code == 4
