"""The indicators dashboard (portal/dashboard.py): what each reader sees, downloads, forecast, Arabic.

Data go through the real pipeline: a border-crossings file uploaded by the Border Police
(MI-PAF), approved by its focal point and accepted by the ONM through the portal's own pages,
then counted by services.indicators.on_accepted.
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re

import pytest
from openpyxl import load_workbook

from services import accounts, db
from services.identity import api_tokens
from services.indicators import approve_release, create_release, on_accepted, publish
from services.models import Account, Submission

from tests.portal_fixtures import (app, border_crossings_csv, client, crossing, login, portal_engine,  # noqa: F401
                                   portal_env, post, upload)

CODE = "border_movements"
PAGE = f"/dashboard/{CODE}?by=nationality&year=2024"
# 40 Tunisians, 30 Libyans and 2 Algerians crossed in July 2024: the 2 is the small cell.
FIRST_FILE = ([crossing(i, nationality="TUN") for i in range(40)]
              + [crossing(100 + i, nationality="LBY") for i in range(30)]
              + [crossing(200 + i, nationality="DZA") for i in range(2)])


# --- the pipeline, as the partners and the ONM use it ---------------------------------------------

def signed_in(app, username: str):
    c = app.test_client()
    assert login(c, username).status_code == 302
    return c


def submit_and_accept(app, engine, rows: list[dict]) -> int:
    submitter = signed_in(app, "mi-paf.submitter")
    answer = upload(submitter, border_crossings_csv(rows), filename=f"crossings-{rows[0]['event_id']}.csv")
    submission_id = int(answer.location.rsplit("/", 1)[1])
    for username, action in (("mi-paf.focal_point", "approve"), ("onm.onm_analyst", "accept")):
        moved = post(signed_in(app, username), f"/submissions/{submission_id}/{action}", {"back": "detail"})
        assert moved.status_code == 303, (action, moved.status_code)
    with db.session(engine) as s:
        sub = s.get(Submission, submission_id)
        assert sub.status == "accepted", (sub.status, sub.errors_count)
    # workflow.move does not refresh the indicators: the acceptance's follow-up does (idempotent).
    on_accepted(engine, submission_id)
    return submission_id


@pytest.fixture
def accepted(app, portal_engine):
    submit_and_accept(app, portal_engine, FIRST_FILE)
    return portal_engine


def principal(engine, username: str):
    with db.session(engine) as s:
        return accounts.principal_of(accounts.find(s, username))


def second_onm_analyst(engine):
    """Releases need two people (four eyes): a colleague of onm.onm_analyst."""
    with db.session(engine) as s:
        s.add(Account(username="onm.colleague", password_hash="-", institution="ONM", roles="onm_analyst"))
        s.commit()
    return principal(engine, "onm.colleague")


def release(engine, *, note=None, release_date=None):
    with db.session(engine) as s:
        colleague = accounts.find(s, "onm.colleague")
    drafter = principal(engine, "onm.onm_analyst")
    approver = principal(engine, "onm.colleague") if colleague else second_onm_analyst(engine)
    draft = create_release(engine, CODE, {"year": 2024}, drafter, note=note)
    approve_release(engine, CODE, draft.version, approver)
    return publish(engine, CODE, draft.version, approver, release_date=release_date)


# --- reading the page -----------------------------------------------------------------------------

def rows_of(page: str) -> dict[str, str | None]:
    """data-key -> the shown number as written, or None for a suppressed cell."""
    out = {}
    for key, body in re.findall(r'<tr data-key="([^"]+)"[^>]*>(.*?)</tr>', page, re.S):
        value = re.search(r'data-value="([^"]+)"', body)
        out[key] = value.group(1) if value else None
        if value is None:
            assert 'class="num suppressed"' in body, body
    return out


def row_html(page: str, key: str) -> str:
    match = re.search(rf'<tr data-key="{re.escape(key)}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row {key}"
    return match.group(1)


def charts_of(page: str) -> list[dict]:
    return [json.loads(html.unescape(raw)) for raw in re.findall(r"data-chart='([^']*)'", page)]


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


# --- who sees what --------------------------------------------------------------------------------

def test_the_onm_analyst_sees_live_figures(app, accepted):
    onm = signed_in(app, "onm.onm_analyst")
    answer = onm.get(PAGE + "&lang=en")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    # Pseudonymised microdata of every institution: the analyst could count them, nothing is hidden.
    assert rows_of(page) == {"2024|TUN": "40", "2024|LBY": "30", "2024|DZA": "2", "2024|_T": "72"}
    assert "Live figures" in page
    assert 'href="/dashboard"' in page  # the nav item
    chart = charts_of(page)[0]
    assert chart["kind"] == "bar" and chart["series"][0]["values"] == [40, 30, 2]
    assert chart["categories"] == ["Tunisia", "Libya", "Algeria"]


def test_ins_sees_small_cells_suppressed_everywhere(app, accepted):
    ins = signed_in(app, "ins.analyst")
    page = ins.get(PAGE + "&lang=en").get_data(as_text=True)
    shown = rows_of(page)
    assert shown["2024|DZA"] is None                         # the small cell is hidden...
    assert sum(v is None for v in shown.values()) >= 2       # ...and one more, or the total would give it away
    dza = row_html(page, "2024|DZA")
    assert ">2<" not in dza and 'data-value' not in dza and ">c</abbr>" in dza
    assert "Confidential" in page                            # the mark is explained

    chart = charts_of(page)[0]
    values = dict(zip(chart["categories"], chart["series"][0]["values"]))
    assert values["Algeria"] is None and 2 not in values.values()

    data = csv_rows(ins.get(f"/dashboard/{CODE}/download?format=csv&by=nationality&year=2024&lang=en").data)
    dza_line = next(r for r in data if "DZA" in r)
    assert dza_line[-2] == "" and dza_line[-1] and "2" not in dza_line[-2:]

    # The JSON API applies the same rule (services/indicators/reading.py).
    with db.session(accepted) as s:
        token = api_tokens.issue(s, "ins.analyst")[0]
    api = app.test_client().get(f"/api/v1/indicators/{CODE}?by=nationality&year=2024",
                                headers={"Authorization": f"Bearer {token}"}).get_json()
    dza_api = next(r for r in api["rows"] if r["nationality"] == "DZA")
    assert dza_api["value"] is None and dza_api["flag"] == "primary"


def test_a_published_reader_sees_only_published_releases(app, accepted):
    cnss = signed_in(app, "cnss.analyst")  # CNSS reads every dataset at level `published`
    before = cnss.get(PAGE + "&lang=en").get_data(as_text=True)
    assert "No release of this indicator has been published yet" in before
    assert rows_of(before) == {} and "/download" not in before
    assert cnss.get(f"/dashboard/{CODE}/download?format=csv&by=nationality&year=2024").status_code == 404

    release(accepted)                                          # v1: the first file, published today
    submit_and_accept(app, accepted, [crossing(300 + i, nationality="TUN") for i in range(10)])
    live = rows_of(signed_in(app, "onm.onm_analyst").get(PAGE).get_data(as_text=True))
    assert live["2024|TUN"] == "50"                            # the ONM sees the new file at once

    page = cnss.get(PAGE + "&lang=en").get_data(as_text=True)
    shown = rows_of(page)
    assert shown["2024|TUN"] == "40" and shown["2024|_T"] == "72"   # the release, not the live table
    assert shown["2024|DZA"] is None                                 # and under disclosure control
    assert "Release 1, published" in page and "Live: every accepted submission" not in page
    assert cnss.get(PAGE + "&version=").status_code == 200           # no way to ask for the live table

    # v2 (with the new file) is published with a release date next week: embargoed until then.
    release(accepted, note="August file added", release_date=dt.date.today() + dt.timedelta(days=7))
    page = cnss.get(PAGE + "&lang=en").get_data(as_text=True)
    assert rows_of(page)["2024|TUN"] == "40" and "Release 2" not in page
    embargoed = cnss.get(PAGE + "&version=2&lang=en").get_data(as_text=True)
    assert rows_of(embargoed) == {} and "no release version 2 that you may see" in embargoed
    assert rows_of(signed_in(app, "onm.onm_analyst").get(PAGE + "&version=2").get_data(as_text=True))[
        "2024|TUN"] == "50"                                          # its publishers see it before the date


def test_the_figure_changes_once_a_new_submission_is_accepted(app, accepted):
    onm = signed_in(app, "onm.onm_analyst")
    assert rows_of(onm.get(PAGE).get_data(as_text=True))["2024|LBY"] == "30"
    submit_and_accept(app, accepted, [crossing(400 + i, nationality="LBY") for i in range(5)])
    after = rows_of(onm.get(PAGE).get_data(as_text=True))
    assert after["2024|LBY"] == "35" and after["2024|_T"] == "77"


# --- downloads ------------------------------------------------------------------------------------

def test_downloads_hold_exactly_the_table_shown(app, accepted):
    ins = signed_in(app, "ins.analyst")
    query = "by=nationality&split=direction&year=2024&lang=en"
    page = ins.get(f"/dashboard/{CODE}?{query}").get_data(as_text=True)
    shown = rows_of(page)
    assert shown and any(v is None for v in shown.values())

    data = csv_rows(ins.get(f"/dashboard/{CODE}/download?format=csv&{query}").data)
    header, lines = data[0], data[1:]
    assert len(header) == 3 * 2 + 2  # code and label of year, nationality, direction; value; flag
    from_csv = {f"{r[0]}|{r[2]}|{r[4]}": (r[6] or None) for r in lines}
    assert from_csv == shown
    assert [k for k in from_csv] == list(shown)  # same order too

    book = load_workbook(io.BytesIO(ins.get(f"/dashboard/{CODE}/download?format=xlsx&{query}").data))
    sheet = book.worksheets[0]
    from_xlsx = {f"{r[0]}|{r[2]}|{r[4]}": (None if r[6] is None else str(r[6]))
                 for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert from_xlsx == shown

    sdmx = csv_rows(ins.get(f"/dashboard/{CODE}/download?format=sdmx-csv&{query}").data)
    columns = sdmx[0]
    at = {name: columns.index(name) for name in ("NATIONALITY", "DIRECTION", "TIME_PERIOD", "OBS_VALUE")}
    from_sdmx = {f"{r[at['TIME_PERIOD']]}|{r[at['NATIONALITY']]}|{r[at['DIRECTION']]}": (r[at["OBS_VALUE"]] or None)
                 for r in sdmx[1:]}
    assert from_sdmx == shown


def test_downloads_are_refused_without_figures_and_in_unknown_formats(app, portal_engine):
    ins = signed_in(app, "ins.analyst")
    assert ins.get(f"/dashboard/{CODE}/download?format=csv").status_code == 404   # nothing accepted yet
    assert ins.get(f"/dashboard/{CODE}/download?format=pdf").status_code == 404
    assert ins.get("/dashboard/no_such_indicator").status_code == 404


# --- languages ------------------------------------------------------------------------------------

def test_the_arabic_page_is_right_to_left(app, accepted):
    ins = signed_in(app, "ins.analyst")
    page = ins.get(f"/dashboard/{CODE}?by=month&year=2024&lang=ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert "rtl.css" in page
    assert "جويلية 2024" in page                     # Tunisian month names
    chart = charts_of(page)[0]
    assert chart["rtl"] is True and chart["kind"] == "line" and chart["separators"] == ",."
    nat = ins.get(PAGE + "&lang=ar").get_data(as_text=True)
    assert "الجزائر" in nat and ">س</abbr>" in nat       # codelist labels; the Arabic mark of a hidden cell
    en = ins.get(PAGE + "&lang=en").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in en


# --- forecast -------------------------------------------------------------------------------------

def test_a_forecast_needs_36_months(app, accepted):
    onm = signed_in(app, "onm.onm_analyst")
    page = onm.get(f"/dashboard/{CODE}?by=month&year=2024&lang=en").get_data(as_text=True)
    assert "A forecast needs at least 36 months of figures; this selection has 1." in page
    assert not [c for c in charts_of(page) if c["kind"] == "forecast"]


def test_a_forecast_with_its_backtest_from_three_years_of_months(app, portal_engine):
    rows, n = [], 0
    for year in (2022, 2023, 2024):
        for month in range(1, 13):
            for _ in range(20 + (15 if month in (7, 8) else 0)):  # a summer wave, as at the borders
                age = year - 1990 - (month < 3)  # born 2 March 1990 (tests.portal_fixtures.crossing)
                rows.append(crossing(n, event_date=f"{year}-{month:02d}-10", age=str(age)))
                n += 1
    submit_and_accept(app, portal_engine, rows)
    onm = signed_in(app, "onm.onm_analyst")
    page = onm.get(f"/dashboard/{CODE}?by=month&year=2024&lang=en").get_data(as_text=True)
    charts = charts_of(page)
    notes = re.findall(r'(?:forecast-note|message)"[^>]*>(.*?)<', page)
    assert [c["kind"] for c in charts] == ["line", "forecast"], notes
    forecast = charts[1]
    assert len(forecast["forecast"]["mean"]) == 12 and len(forecast["observed"]["values"]) == 36
    assert all(lo <= m <= hi for lo, m, hi in zip(forecast["forecast"]["lower"], forecast["forecast"]["mean"],
                                                  forecast["forecast"]["upper"]))
    assert forecast["forecast"]["x"][0] == "January 2025"
    assert re.search(r'<strong class="mape">[\d.,]+ %</strong>', page)  # the backtest beside the chart


# --- every indicator, every reader ---------------------------------------------------------------

@pytest.mark.parametrize("username", ["onm.onm_analyst", "ins.analyst", "cnss.analyst", "onm.admin"])
def test_every_indicator_page_answers(app, accepted, username):
    from services.indicators import default_indicators

    reader = signed_in(app, username)
    index = reader.get("/dashboard?lang=en")
    assert index.status_code == 200
    for code in default_indicators():
        assert f'href="/dashboard/{code}"' in index.get_data(as_text=True)
        answer = reader.get(f"/dashboard/{code}?lang=en")
        assert answer.status_code == 200, (code, answer.status_code)
    assert reader.get(f"/dashboard?indicator={CODE}").location.endswith(f"/dashboard/{CODE}")


def test_the_chart_library_comes_from_the_installed_package(app, portal_engine):
    reader = signed_in(app, "ins.analyst")
    answer = reader.get("/dashboard/plotly.min.js?v=1")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert "immutable" in answer.headers["Cache-Control"]
    assert b"window.Plotly" in answer.data
    assert app.test_client().get("/dashboard/plotly.min.js").status_code == 302  # signed out: login first


@pytest.mark.parametrize("lang, words", [("en", "too many cells"), ("fr", "trop de cellules"),
                                         ("ar", "خلايا أكثر")])
def test_a_table_past_the_query_bound_says_so_in_the_readers_language(app, accepted, monkeypatch, lang, words):
    """A bound of one query (MARSAD_QUERY_MAX_CELLS) is not "cannot protect": the page says what to change."""
    monkeypatch.setenv("MARSAD_QUERY_MAX_CELLS", "4")
    page = signed_in(app, "ins.analyst").get(f"/dashboard/{CODE}?by=nationality&split=direction&year=2024"
                                             f"&lang={lang}").get_data(as_text=True)
    assert words in page and not rows_of(page)
