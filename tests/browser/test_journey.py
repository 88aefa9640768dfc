"""A border-crossings file's whole journey, as people do it in a browser: the Border Police
submitter sends a file with errors, reads the report in Arabic, sends the corrected file as a
replacement; the Border Police focal point approves it; the ONM analyst accepts it.

(No dashboard page exists yet — services.indicators holds only the table shape — so the end of
the journey is checked on the home and submission pages; extend it to the dashboard's figure
when that page lands.)
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.support import Translations
from sqlmodel import select

from services import db
from services.catalog import default_catalog
from services.ingest.report import report_lines
from services.models import RowError, Submission
from services.synth import default_year, write_file

pytestmark = pytest.mark.browser

TRANSLATIONS = Path(__file__).resolve().parents[2] / "portal" / "translations"
ROWS, SEED = 150, 20240714


def portal_text(lang: str, msgid: str) -> str:
    """The portal's own wording in `lang`, from its compiled catalog."""
    return Translations.load(str(TRANSLATIONS), [lang]).gettext(msgid)


def submission(engine, submission_id: int) -> Submission:
    with db.session(engine) as s:
        return s.get(Submission, submission_id)


def shown_id(browser) -> int:
    found = re.fullmatch(r"/submissions/(\d+)(\?.*)?", browser.path)
    assert found, browser.path
    return int(found.group(1))


def test_a_rejected_file_is_corrected_approved_and_accepted(browser, live_portal, tmp_path):
    year = default_year()
    # The same seed with and without errors: the corrected file differs only in the rows the report named.
    faulty = write_file(tmp_path / "passages-frontiere.csv", "border_crossings", rows=ROWS, year=year, seed=SEED,
                        error_rate=0.05)
    fixed = write_file(tmp_path / "passages-frontiere-corrige.csv", "border_crossings", rows=ROWS, year=year,
                       seed=SEED, error_rate=0.0)
    assert faulty.errors_injected and not fixed.errors_injected
    faulty_rows = sorted({row for row, _field, _kind in faulty.errors_injected})

    # --- the submitter sends the file with errors
    browser.go("/login?lang=en")
    assert browser.html == {"lang": "en", "dir": "ltr"}
    browser.shoot("login-en")
    browser.sign_in("mi-paf.submitter")
    assert "Border Police" in browser.text("main h1")
    browser.shoot("submitter-home-en")

    browser.click("nav.main-nav a[href='/submissions/new']")
    browser.choose("#dataset", "border_crossings")
    browser.find("#file").send_keys(str(faulty.path))
    browser.shoot("upload-form-en")
    browser.submit()
    rejected_id = shown_id(browser)
    assert submission(live_portal.engine, rejected_id).status == "rejected"
    assert browser.find_all("main .status-rejected")
    reported_rows = sorted({int(cell.text) for cell in browser.find_all("table.report tbody td.num") if cell.text.isdigit()})
    assert reported_rows == faulty_rows
    browser.shoot("report-en")

    # --- reads the report in Arabic, right to left
    browser.switch_language("ar")
    assert browser.html == {"lang": "ar", "dir": "rtl"}
    assert portal_text("ar", "Validation report") in browser.text("#report")
    with db.session(live_portal.engine) as s:
        errors = list(s.exec(select(RowError).where(RowError.submission_id == rejected_id).order_by(RowError.id)))
    expected = report_lines(errors, default_catalog(), "border_crossings", "ar")
    report = browser.text("table.report tbody")
    for line in expected:
        assert " ".join(line["message"].split()) in report, line
    assert re.search(r"[\u0600-\u06FF]", expected[0]["message"]), "the catalog's message is not in Arabic"
    browser.shoot("report-ar-rtl")

    # --- sends the corrected file as a replacement
    browser.click(f"main a[href='/submissions/new?replaces={rejected_id}']")
    assert browser.html["dir"] == "rtl"
    assert browser.find("input[name=replaces]").get_attribute("value") == str(rejected_id)
    browser.find("#file").send_keys(str(fixed.path))
    browser.shoot("replacement-form-ar")
    browser.submit()
    corrected_id = shown_id(browser)
    corrected = submission(live_portal.engine, corrected_id)
    assert corrected.status == "validated" and corrected.replaces_id == rejected_id
    assert corrected.rows_loaded == ROWS
    assert browser.find_all(f"main a[href='/submissions/{rejected_id}']")  # "replaces submission N"
    browser.shoot("corrected-validated-ar")
    browser.sign_out()

    # --- the Border Police focal point approves (in French)
    browser.go("/login?lang=fr")
    browser.sign_in("mi-paf.focal_point")
    assert browser.html == {"lang": "fr", "dir": "ltr"}
    assert browser.find_all(f"#awaiting ~ table a[href='/submissions/{corrected_id}']")
    browser.shoot("focal-point-home-fr")
    browser.go(f"/submissions/{corrected_id}")
    browser.click(f"form[action='/submissions/{corrected_id}/approve'] button")
    assert submission(live_portal.engine, corrected_id).status == "approved"
    assert browser.find_all("main .status-approved")
    browser.shoot("approved-fr")
    browser.sign_out()

    # --- the ONM analyst accepts (in Arabic)
    browser.go("/login?lang=ar")
    browser.sign_in("onm.onm_analyst")
    assert browser.html["dir"] == "rtl"
    assert portal_text("ar", "Waiting for your decision") in browser.text("main")
    browser.shoot("onm-analyst-home-ar")
    browser.click(f"#awaiting ~ table a[href='/submissions/{corrected_id}']")
    browser.click(f"form[action='/submissions/{corrected_id}/accept'] button")
    assert submission(live_portal.engine, corrected_id).status == "accepted"
    assert browser.find_all("main .status-accepted")
    history = browser.text("#history ~ table")
    assert "mi-paf.focal_point" in history and "onm.onm_analyst" in history
    browser.shoot("accepted-ar")

    # --- where the figures will show: nothing waits any more, the obligation shows "accepted"
    browser.go("/")
    assert not browser.find_all(f"#awaiting ~ table a[href='/submissions/{corrected_id}']")
    browser.sign_out()
    browser.go("/login?lang=en")
    browser.sign_in("mi-paf.submitter")
    obligations = browser.find("#owed ~ table tbody")
    assert obligations.find_elements("css selector", f"a[href='/submissions/{corrected_id}']")
    assert obligations.find_elements("css selector", ".status-accepted")
    browser.shoot("submitter-home-accepted-en")
