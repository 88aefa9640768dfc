"""Indicators computed from accepted data, checked against counts written here in plain Python.

Synthetic files of every dataset go through the real pipeline (ingest, approve, accept) on
SQLite and on PostgreSQL; the expected values are recomputed below from the rows read back
from the database, with each indicator's rule written out again by hand (not read from its
YAML), then compared with what `query` reads from the aggregate table: every slice's finest
cells, every one-dimension margin, the grand total and a filtered breakdown.
"""
from __future__ import annotations

import calendar
import datetime as dt
import io
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select

from services import db
from services.catalog import default_catalog
from services.datasets_db import dataset_table
from services.indicators import available_periods, default_indicators, on_accepted, query, refresh
from services.indicators.table import TOTAL
from services.ingest import ingest
from services.models import Submission
from services.models_indicators import IndicatorCell
from services.policy import Principal, load_policies
from services.storage import LocalStore
from services.synth import write_file
from services.workflow import move
from tests.ingest_support import csv_bytes, submitter

CATALOG = default_catalog()
POLICIES = load_policies()
ONM = Principal("onm.onm_analyst", "ONM", frozenset({"onm_analyst"}))
TODAY = dt.date.today()
UNKNOWN = "_U"
POPULATION_TUN = {2023: 11920000, 2024: 11970000}  # services/catalog/indicators/population.yaml
AGE_BANDS = [(item["attributes"]["min"], item["attributes"]["max"], item["code"])
             for item in CATALOG.codelists["age_groups"].items]

# (dataset, year, seed, rows, accepted)
FILES = [
    ("border_crossings", 2023, 41, 1200, True),
    ("border_crossings", 2024, 41, 1200, True),   # same seed: many travellers cross in both years
    ("border_crossings", 2024, 99, 300, False),   # validated, never accepted: must count nowhere
    ("residence_permits", 2023, 42, 400, True),
    ("residence_permits", 2024, 42, 400, True),   # renewals: the same persons hold several permits
    ("work_permits", 2024, 43, 300, True),
    ("consular_registrations", 2024, 44, 300, True),
    ("placements_abroad", 2024, 45, 300, True),
    ("returnees", 2024, 46, 300, True),
    ("asylum_refugees", 2023, 47, 250, True),
    ("asylum_refugees", 2024, 47, 250, True),     # a later extraction: the latest status counts
    ("interceptions", 2024, 48, 250, True),
]


def _principal(dataset: str, role: str = "submitter") -> Principal:
    who = submitter(POLICIES, dataset)
    return Principal(f"{who.institution.lower()}.{role}", who.institution, frozenset({role}))


def load(engine, store, source, dataset: str, accept: bool = True, filename: str | None = None) -> int:
    who = _principal(dataset)
    result = ingest(source, dataset=dataset, institution=who.institution, principal=who, engine=engine, store=store,
                    catalog=CATALOG, policies=POLICIES, filename=filename)
    assert result.submission.status == "validated", result.problems[:3]
    if accept:
        with db.session(engine) as s:
            move(s, result.submission.id, "approve", _principal(dataset, "focal_point"), policies=POLICIES)
            move(s, result.submission.id, "accept", ONM, policies=POLICIES)
    return result.submission.id


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    out = []
    for dataset, year, seed, rows, accepted in FILES:
        path = folder / f"{dataset}-{year}-{seed}.csv"
        write_file(path, dataset, rows=rows, year=year, seed=seed)
        out.append((path, dataset, accepted))
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory, synthetic_files):
    """Every dataset loaded and (but one file) accepted, then the aggregate table refreshed."""
    folder = tmp_path_factory.mktemp(f"world-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'marsad.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"indicators_{folder.name[-6:]}".lower())
    engine = db.make_engine(url)
    db.upgrade(engine)
    store = LocalStore(folder / "objects")
    for path, dataset, accepted in synthetic_files:
        load(engine, store, path, dataset, accepted)
    refresh(engine)
    yield engine
    engine.dispose()


def accepted_rows(engine, dataset: str) -> list[dict]:
    table = dataset_table(CATALOG.dataset(dataset))
    with engine.connect() as conn:
        ok = {i for (i,) in conn.execute(select(Submission.id).where(Submission.status == "accepted"))}
        return [dict(r._mapping) for r in conn.execute(select(table)) if r.submission_id in ok]


# --- plain-Python rules --------------------------------------------------------------------------

def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def years_between(start: dt.date, end: dt.date) -> int:
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))


def age_group(age) -> str:
    if age is None:
        return UNKNOWN
    for lo, hi, code in AGE_BANDS:
        if age >= lo and (hi is None or age <= hi):
            return code
    return UNKNOWN


def age_on(row, when, birth="birth_date", age="age", age_at=None):
    if birth and row.get(birth) is not None:
        return years_between(row[birth], when)
    if age and row.get(age) is not None:
        return row[age] + (years_between(row[age_at], when) if age_at and row.get(age_at) else 0)
    return None


def code(value) -> str:
    return UNKNOWN if value is None else value


def flow_expectation(rows, date_field, key_of, value_of=lambda r: {(): 1}):
    """slice -> finest key -> value; value_of gives {part code (or ()): amount} per row."""
    out: dict = defaultdict(Counter)
    for r in rows:
        day = r[date_field]
        for part, amount in value_of(r).items():
            key = key_of(r)
            key = (part, *key) if part != () else key
            out[(day.year, day.month)][key] += amount
            out[(day.year, 0)][key] += amount
    return {s: dict(c) for s, c in out.items()}


def last_complete_month_end(latest: dt.date) -> dt.date:
    end = month_end(latest.year, latest.month)
    if end > TODAY:
        year, month = (TODAY.year - 1, 12) if TODAY.month == 1 else (TODAY.year, TODAY.month - 1)
        end = month_end(year, month)
    return end


def stock_expectation(rows, valid_from, valid_to, latest, keep, key_of, monthly=True, since=1900):
    """Persons valid on each reference date, described by their latest row, then filtered."""
    first = max(min(r[valid_from] for r in rows), dt.date(since, 1, 1))
    end = last_complete_month_end(max(r[valid_from] for r in rows))
    refs = []
    year, month = first.year, first.month
    while month_end(year, month) <= end:
        if monthly:
            refs.append(((year, month), month_end(year, month)))
        if month == 12:
            refs.append(((year, 0), month_end(year, 12)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    out = {}
    for s, ref in refs:
        chosen = {}
        for r in rows:
            if r[valid_from] > ref or (valid_to and r[valid_to] is not None and r[valid_to] < ref):
                continue
            who = r["person_id"] or f"row:{r['row_id']}"
            rank = (r[latest] is not None, r[latest] or dt.date.min, r["row_id"])
            if who not in chosen or rank > chosen[who][0]:
                chosen[who] = (rank, r)
        counts = Counter(key_of(r, ref) for _, r in chosen.values() if keep(r))
        out[s] = dict(counts)
    return out


def net_migration_expectation(rows):
    """The 12-month rule as a state machine walked person by person."""
    end = month_end(max(r["event_date"] for r in rows).year, max(r["event_date"] for r in rows).month)
    first_year = min(r["event_date"] for r in rows).year
    years = [y for y in range(first_year, end.year + 1) if dt.date(y, 12, 31) + dt.timedelta(days=365) <= end]
    by_person = defaultdict(list)
    for r in rows:
        by_person[r["person_id"]].append(r)
    counts = defaultdict(Counter)
    for events in by_person.values():
        events.sort(key=lambda r: (r["event_date"], r["direction"] != "ENTRY", r["row_id"]))
        declared = events[0]["country_of_residence"]
        resident = declared == "TUN" if declared else events[0]["nationality"] == "TUN"
        for i, e in enumerate(events):
            after = events[i + 1]["event_date"] if i + 1 < len(events) else end
            if (after - e["event_date"]).days < 365:
                continue  # a short stay or absence changes nothing
            entering = e["direction"] == "ENTRY"
            key = (code(e["nationality"]), code(e["sex"]), age_group(age_on(e, e["event_date"])))
            if entering and not resident:
                counts[e["event_date"].year][("IMMIGRATION", *key)] += 1
            elif not entering and resident:
                counts[e["event_date"].year][("EMIGRATION", *key)] += 1
            resident = entering
    out = {}
    for year in years:
        cells = dict(counts[year])
        for k in {k[1:] for k in cells}:
            cells[("NET", *k)] = cells.get(("IMMIGRATION", *k), 0) - cells.get(("EMIGRATION", *k), 0)
        out[(year, 0)] = cells
    return out


EXPECTATIONS = {
    "border_movements": lambda e: flow_expectation(
        accepted_rows(e, "border_crossings"), "event_date",
        lambda r: (r["direction"], r["border_post"], r["nationality"], r["sex"])),
    "placements_abroad": lambda e: flow_expectation(
        accepted_rows(e, "placements_abroad"), "placement_date",
        lambda r: (r["destination_country"], r["sex"], r["governorate_of_origin"])),
    "returnees": lambda e: flow_expectation(
        accepted_rows(e, "returnees"), "return_date",
        lambda r: (r["country_of_return_from"], r["return_type"], r["sex"])),
    "migrant_deaths_missing": lambda e: flow_expectation(
        accepted_rows(e, "interceptions"), "period_month", lambda r: (r["governorate"], r["nationality"]),
        lambda r: {"DEAD": r["deaths"] or 0, "MISSING": r["missing"] or 0}),
    "interceptions": lambda e: flow_expectation(
        accepted_rows(e, "interceptions"), "period_month",
        lambda r: (r["governorate"], r["nationality"], r["location_type"]),
        lambda r: {"MINOR": r["minors"] or 0, "OTHER": r["persons"] - (r["minors"] or 0)}),
    "foreign_residents": lambda e: stock_expectation(
        accepted_rows(e, "residence_permits"), "issue_date", "expiry_date", "issue_date",
        lambda r: r["permit_status"] not in ("WITHDRAWN", "CANCELLED"),
        lambda r, ref: (r["nationality"], r["sex"], age_group(age_on(r, ref, age_at="issue_date")),
                        r["governorate_of_residence"]), since=2000),
    "foreign_workers": lambda e: stock_expectation(
        accepted_rows(e, "work_permits"), "issue_date", "expiry_date", "issue_date", lambda r: True,
        lambda r, ref: (r["sector"], r["nationality"], r["sex"], r["employer_governorate"]), since=2000),
    "tunisians_abroad_registered": lambda e: stock_expectation(
        accepted_rows(e, "consular_registrations"), "registration_date", None, "registration_date",
        lambda r: True, lambda r, ref: (r["country_of_residence"], r["sex"], age_group(age_on(r, ref, age=None))),
        monthly=False, since=2000),
    "refugees_asylum_seekers": lambda e: stock_expectation(
        accepted_rows(e, "asylum_refugees"), "registration_date", None, "registration_date",
        lambda r: r["protection_status"] in ("REFUGEE", "ASYLUM_SEEKER", "APPEAL"),
        lambda r, ref: (r["country_of_origin"], r["protection_status"], r["sex"],
                        age_group(age_on(r, ref, age_at="registration_date"))), monthly=False, since=2011),
    "sdg_10_7_4": lambda e: stock_expectation(
        accepted_rows(e, "asylum_refugees"), "registration_date", None, "registration_date",
        lambda r: r["protection_status"] == "REFUGEE",
        lambda r, ref: (r["country_of_origin"], r["sex"]), monthly=False, since=2011),
    "net_migration": lambda e: net_migration_expectation(accepted_rows(e, "border_crossings")),
}


def as_rate(year: int, count):
    return count * 100000 / POPULATION_TUN[year]


def expected_cells(code_, year, finest: dict, filters: dict, by: tuple[str, ...]) -> dict:
    """Finest cells added up the way a reader asks: filtered dims pinned, others at their total."""
    ind = default_indicators()[code_]
    names = ind.dimension_names
    pinned = {**{d.name: d.default for d in ind.dimensions if not d.total}, **filters}
    out = Counter()
    for key, value in finest.items():
        cell = dict(zip(names, key))
        if any(cell[n] != v for n, v in pinned.items() if n not in by):
            continue
        out[tuple(cell[n] for n in by)] += value
    if ind.rate:
        return {k: as_rate(year, v) for k, v in out.items()}
    return dict(out)


def _filters(s):
    year, month = s
    return {"year": year, "month": month} if month else {"year": year}


@pytest.mark.parametrize("code_", sorted(EXPECTATIONS))
def test_indicator_matches_an_independent_count(world, code_):
    expected = EXPECTATIONS[code_](world)
    assert expected, f"{code_}: the synthetic data should give this indicator something to count"
    assert set(available_periods(world, code_)) == set(expected)
    ind = default_indicators()[code_]
    names = ind.dimension_names
    for s, finest in sorted(expected.items()):
        year = s[0]
        assert any(finest.values()), (code_, s)
        checks = [(_filters(s), names), (_filters(s), ())]
        checks += [(_filters(s), (n,)) for n in names]
        # a breakdown with another dimension pinned to its most common code
        top = Counter()
        for key, value in finest.items():
            top[key[0]] += value
        checks.append(({**_filters(s), names[0]: top.most_common(1)[0][0]}, names[1:2]))
        for filters, by in checks:
            got = query(world, code_, filters, by).cells
            want = expected_cells(code_, year, finest, {k: v for k, v in filters.items() if k in names}, by)
            assert got == pytest.approx(want), (code_, s, filters, by)


def test_breakdowns_by_period(world):
    rows = accepted_rows(world, "border_crossings")
    by_month = Counter(f"{r['event_date']:%Y-%m}" for r in rows if r["event_date"].year == 2024 and r["sex"] == "F")
    table = query(world, "border_movements", {"year": 2024, "sex": "F"}, ("month",))
    assert table.cells == {(m,): n for m, n in by_month.items()}
    assert table.dimensions == ("month",)
    by_year = Counter(str(r["event_date"].year) for r in rows)
    assert query(world, "border_movements", {}, ("year",)).cells == {(y,): n for y, n in by_year.items()}
    # flows add up over several periods; stocks do not
    july_august = sum(1 for r in rows if f"{r['event_date']:%Y-%m}" in ("2024-07", "2024-08"))
    assert query(world, "border_movements", {"year": 2024, "month": [7, 8]}).cells == {(): july_august}
    with pytest.raises(ValueError):
        query(world, "foreign_residents", {"year": 2024, "month": [7, 8]})


def test_only_accepted_submissions_count(world):
    table = dataset_table(CATALOG.dataset("border_crossings"))
    with world.connect() as conn:
        everything = conn.execute(select(table.c.event_date)).all()
    accepted = accepted_rows(world, "border_crossings")
    assert len(everything) == len(accepted) + 300
    in_2024 = sum(1 for r in accepted if r["event_date"].year == 2024)
    assert query(world, "border_movements", {"year": 2024}).value() == in_2024


def test_latest_year_by_default_and_metadata(world):
    table = query(world, "foreign_residents", {}, ("sex",))
    assert table.meta["year"] == 2024
    assert table.meta["names"]["ar"] and table.meta["sources"] == ["residence_permits"]
    assert table.meta["codelists"]["nationality"] == "countries"
    rate = query(world, "sdg_10_7_4", {"year": 2024}, ("sex",))
    assert rate.unit == "rate" and set(rate.meta["observations"]) == set(rate.cells)
    net = query(world, "net_migration", {"year": 2023}, ("flow",))
    assert net.value("NET") == net.value("IMMIGRATION") - net.value("EMIGRATION")
    with pytest.raises(ValueError, match="no dimension"):
        query(world, "foreign_residents", {"colour": "red"})


# --- incremental refresh -----------------------------------------------------------------------

PERMIT_HEADER = ["permit_number", "person_id", "nationality", "sex", "birth_date", "permit_type", "issue_date",
                 "expiry_date", "governorate_of_residence"]
BORDER_HEADER = ["event_id", "event_date", "direction", "border_post", "person_id", "nationality", "sex",
                 "country_of_residence"]


def _cells(engine, indicator: str) -> dict:
    """(year, month, grouping, dims) -> (id, value) of one indicator."""
    t = IndicatorCell.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.indicator == indicator))
        return {(r.year, r.month, r.grouping, r.dim1, r.dim2, r.dim3, r.dim4, r.dim5, r.dim6): (r.id, r.value)
                for r in rows}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'marsad.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"inc_{tmp_path.name[-10:]}".lower()
                                                                   .replace("-", "_"))
    engine = db.make_engine(url)
    db.upgrade(engine)
    yield engine, LocalStore(tmp_path / "objects"), tmp_path
    engine.dispose()


def test_accepting_a_submission_recomputes_only_the_slices_it_touches(fresh):
    engine, store, folder = fresh
    for dataset, seed, rows in (("border_crossings", 7, 600), ("residence_permits", 8, 300)):
        path = folder / f"{dataset}.csv"
        write_file(path, dataset, rows=rows, year=2024, seed=seed)
        on_accepted(engine, load(engine, store, path, dataset))
    before = {code_: _cells(engine, code_) for code_ in ("border_movements", "foreign_residents")}

    march = [{"event_id": f"M{n}", "event_date": f"2024-03-{n + 10}", "direction": "ENTRY", "border_post": "AIR_TUN",
              "person_id": f"P9{n:09d}", "nationality": "SEN", "sex": "F", "country_of_residence": "SEN"}
             for n in range(5)]
    sub = load(engine, store, io.BytesIO(csv_bytes(march, BORDER_HEADER)), "border_crossings", filename="march.csv")
    reports = {r.indicator: r for r in on_accepted(engine, sub)}
    assert set(reports) == {"border_movements", "net_migration"}       # the other datasets' indicators: untouched
    assert reports["border_movements"].slices == [(2024, 0), (2024, 3)]
    assert reports["net_migration"].slices == []                         # 2024 is not complete without 2025

    june = [{"permit_number": f"CS/2024/9{n:06d}", "person_id": f"P8{n:09d}", "nationality": "MLI", "sex": "M",
             "birth_date": "1990-01-01", "permit_type": "TEMPORARY", "issue_date": "2024-06-15",
             "expiry_date": "2025-06-14", "governorate_of_residence": "TN-11"} for n in range(3)]
    sub = load(engine, store, io.BytesIO(csv_bytes(june, PERMIT_HEADER)), "residence_permits", filename="june.csv")
    reports = {r.indicator: r for r in on_accepted(engine, sub)}
    assert reports["foreign_residents"].slices == [(2024, 0), *((2024, m) for m in range(6, 13))]

    after = {code_: _cells(engine, code_) for code_ in before}
    untouched = {"border_movements": lambda k: k[0] == 2024 and k[1] not in (0, 3),
                 "foreign_residents": lambda k: k[0] == 2024 and 1 <= k[1] <= 5}
    for code_, is_untouched in untouched.items():
        kept = {k: v for k, v in before[code_].items() if is_untouched(k)}
        assert kept and all(after[code_][k] == v for k, v in kept.items()), code_  # same rows, same ids
    assert after["border_movements"][(2024, 3, 0b0100, TOTAL, TOTAL, "SEN", TOTAL, None, None)][1] == \
        before["border_movements"].get((2024, 3, 0b0100, TOTAL, TOTAL, "SEN", TOTAL, None, None), (0, 0))[1] + 5

    # and the incremental result is exactly what a full rebuild gives
    refresh(engine)
    rebuilt = {code_: _cells(engine, code_) for code_ in before}
    for code_ in before:
        assert {k: v[1] for k, v in after[code_].items()} == {k: v[1] for k, v in rebuilt[code_].items()}, code_
