"""The portal through Flask's test client: login, CSRF, headers, languages, upload and report,
the workflow, and institution scoping — on a temporary SQLite database and local object store."""
from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select

from services import db
from services.catalog import default_catalog
from services.models import AuditEntry, Submission

from portal import ConfigurationRefused, create_app
from tests.portal_fixtures import (app, border_crossings_csv, client, crossing, csrf, login, logout,  # noqa: F401
                                   portal_engine, portal_env, post, upload)

SUBMITTER = "mi-paf.submitter"     # the Border Police submit border_crossings
FOCAL_POINT = "mi-paf.focal_point"
ONM_ANALYST = "onm.onm_analyst"
OTHER_PARTNER = "unhcr.submitter"  # another institution: must not see the Border Police's files


def valid_file(n: int = 3) -> bytes:
    return border_crossings_csv([crossing(i) for i in range(1, n + 1)])


def submit_valid(client) -> int:
    login(client, SUBMITTER)
    response = upload(client, valid_file())
    assert response.status_code == 303, response.data
    logout(client)
    return int(response.location.rsplit("/", 1)[-1])


def status_of(engine, submission_id: int) -> str:
    with db.session(engine) as s:
        return s.get(Submission, submission_id).status


# --- health, access, login ----------------------------------------------------------------------

def test_healthz_answers_json_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_pages_redirect_to_login_when_signed_out(client):
    for url in ("/", "/submissions", "/submissions/1", "/catalog", "/submissions/new"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.location.startswith("/login?next="), url


def test_login_succeeds_and_is_audited(client, portal_engine):
    response = login(client, SUBMITTER, next="/catalog")
    assert response.status_code == 302 and response.location == "/catalog"
    home = client.get("/?lang=en")
    assert home.status_code == 200
    assert "Border Police" in home.get_data(as_text=True)
    with db.session(portal_engine) as s:
        actions = [e.action for e in s.exec(select(AuditEntry))]
    assert "auth.login" in actions


def test_login_with_a_bad_password_fails(client, portal_engine):
    client.get("/login?lang=en")
    response = login(client, SUBMITTER, "wrong password")
    assert response.status_code == 401
    assert "wrong password" in response.get_data(as_text=True).lower()
    assert client.get("/").status_code == 302  # still signed out
    with db.session(portal_engine) as s:
        assert "auth.login.failed" in [e.action for e in s.exec(select(AuditEntry))]


def test_login_is_rate_limited_per_address_and_username(client):
    for _ in range(10):
        assert login(client, SUBMITTER, "guess").status_code == 401
    # The eleventh attempt is refused before the password is even checked, right or wrong.
    assert login(client, SUBMITTER).status_code == 429
    # Another username from the same address is counted apart.
    assert login(client, FOCAL_POINT).status_code == 302


def test_login_does_not_redirect_off_site(client):
    response = login(client, SUBMITTER, next="//evil.example/phish")
    assert response.status_code == 302 and response.location == "/"


def test_logout_ends_the_session(client):
    login(client, SUBMITTER)
    assert client.get("/").status_code == 200
    assert logout(client).status_code == 302
    assert client.get("/").status_code == 302


def test_local_login_is_off_when_local_accounts_are(portal_engine):
    app = create_app({"TESTING": True, "ENGINE": portal_engine, "LOCAL_ACCOUNTS": False})
    client = app.test_client()
    assert client.post("/login", data={"username": SUBMITTER, "password": "marsad-demo",
                                       "csrf_token": csrf(client)}).status_code == 404
    assert 'name="password"' not in client.get("/login").get_data(as_text=True)


# --- request hardening --------------------------------------------------------------------------

def test_post_without_csrf_token_is_refused(client):
    assert client.post("/login", data={"username": SUBMITTER, "password": "marsad-demo"}).status_code == 400
    login(client, SUBMITTER)
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/").status_code == 200  # the forged logout did nothing


def test_security_headers_on_every_response(client):
    for url in ("/login", "/healthz", "/static/marsad.css", "/no-such-page"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"]


def test_session_cookie_flags(portal_engine, monkeypatch):
    monkeypatch.delenv("MARSAD_COOKIE_SECURE")  # the default: Secure
    client = create_app({"TESTING": True, "ENGINE": portal_engine}).test_client()
    cookie = client.get("/login").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_templates_have_no_inline_script_or_style(client):
    login(client, SUBMITTER)
    for url in ("/", "/submissions", "/submissions/new", "/catalog", "/catalog/datasets/border_crossings"):
        page = client.get(url).get_data(as_text=True)
        assert "<script" not in page and "<style" not in page and " style=" not in page, url


def test_upload_larger_than_the_limit_is_refused(portal_engine):
    client = create_app({"TESTING": True, "ENGINE": portal_engine, "MAX_CONTENT_LENGTH": 2048}).test_client()
    login(client, SUBMITTER)
    response = upload(client, valid_file(100))
    assert response.status_code == 413


def test_production_refuses_demo_defaults(portal_env, monkeypatch):
    monkeypatch.setenv("MARSAD_ENV", "production")
    with pytest.raises(ConfigurationRefused, match="SECRET_KEY"):
        create_app()


# --- languages ----------------------------------------------------------------------------------

def test_arabic_is_right_to_left(client):
    page = client.get("/login?lang=ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert "rtl.css" in page
    assert "تسجيل الدخول" in page  # "Sign in"


def test_french_and_english_are_left_to_right_and_the_choice_sticks(client):
    page = client.get("/login?lang=fr").get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in page and "rtl.css" not in page
    assert "Se connecter" in page
    assert '<html lang="fr"' in client.get("/login").get_data(as_text=True)  # kept in the session
    assert "Sign in" in client.get("/login?lang=en").get_data(as_text=True)


def test_catalog_names_come_from_the_catalog_in_the_reader_language(client):
    login(client, SUBMITTER)
    page = client.get("/catalog/datasets/border_crossings?lang=ar").get_data(as_text=True)
    dataset = default_catalog().dataset("border_crossings")
    assert dataset.names["ar"] in page and dataset.field("border_post").labels["ar"] in page
    page = client.get("/catalog/datasets/border_crossings?lang=fr").get_data(as_text=True)
    assert dataset.names["fr"] in page and "Champ" not in page.split("<main", 1)[0]


# --- catalog ------------------------------------------------------------------------------------

def test_catalog_templates_download(client):
    login(client, SUBMITTER)
    response = client.get("/catalog/datasets/border_crossings/template.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbfevent_id,")
    assert "attachment" in response.headers["Content-Disposition"]
    response = client.get("/catalog/datasets/border_crossings/template.xlsx?lang=ar")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert client.get("/catalog/datasets/no_such_dataset").status_code == 404
    assert client.get("/catalog/codelists/border_posts").status_code == 200


# --- upload and validation report ---------------------------------------------------------------

def test_valid_upload_is_validated(client, portal_engine):
    login(client, SUBMITTER)
    response = upload(client, valid_file())
    assert response.status_code == 303
    submission_id = int(response.location.rsplit("/", 1)[-1])
    assert status_of(portal_engine, submission_id) == "validated"
    page = client.get(response.location + "?lang=en").get_data(as_text=True)
    assert "Validated" in page and "No problem found" in page
    # The home page shows the obligation with the latest submission's status.
    home = client.get("/?lang=en").get_data(as_text=True)
    assert f'/submissions/{submission_id}"' in home and "status-validated" in home


def test_upload_with_errors_shows_the_report_in_arabic(client, portal_engine):
    login(client, SUBMITTER)
    data = border_crossings_csv([crossing(1), crossing(2, sex="Q"), crossing(3), crossing(4, event_date="31/02/2024")])
    response = upload(client, data)
    submission_id = int(response.location.rsplit("/", 1)[-1])
    assert status_of(portal_engine, submission_id) == "rejected"

    page = client.get(f"/submissions/{submission_id}?lang=ar").get_data(as_text=True)
    rows = re.findall(r'<td class="num">(\d+)</td>', page)
    assert rows[:2] == ["3", "5"]  # spreadsheet rows: the header is row 1
    codelist = default_catalog().codelists["sex"].names["ar"]
    assert default_catalog().message("unknown_code", "ar", value="Q", codelist=codelist) in page
    assert 'dir="rtl"' in page

    report = client.get(f"/submissions/{submission_id}/report.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    text = report.data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("السطر") and "\n3," in text and "\n5," in text

    body = json.loads(client.get(f"/submissions/{submission_id}/report.json?lang=fr").data)
    assert body["status"] == "rejected" and body["language"] == "fr"
    assert [(e["row"], e["code"]) for e in body["errors"]] == [(3, "unknown_code"), (5, "bad_date")], body


def test_corrected_file_replaces_the_rejected_one(client, portal_engine):
    login(client, SUBMITTER)
    rejected = upload(client, border_crossings_csv([crossing(1, sex="Q")]))
    rejected_id = int(rejected.location.rsplit("/", 1)[-1])
    assert f"/submissions/new?replaces={rejected_id}" in client.get(rejected.location).get_data(as_text=True)
    response = upload(client, valid_file(), replaces=str(rejected_id))
    new_id = int(response.location.rsplit("/", 1)[-1])
    with db.session(portal_engine) as s:
        assert s.get(Submission, new_id).replaces_id == rejected_id


def test_the_same_file_twice_is_recognised(client):
    client.get("/login?lang=en")  # messages are translated when they are issued
    login(client, SUBMITTER)
    first = upload(client, valid_file())
    second = upload(client, valid_file())
    assert second.location == first.location
    assert "already submitted" in client.get(second.location).get_data(as_text=True)


def test_a_dataset_outside_the_agreement_cannot_be_submitted(client):
    login(client, SUBMITTER)
    assert upload(client, valid_file(), dataset="work_permits").status_code == 403
    login(client, "onm.admin")  # the observatory submits nothing
    assert client.get("/submissions/new").status_code == 403


# --- workflow -----------------------------------------------------------------------------------

def test_focal_point_approves_then_onm_accepts(client, portal_engine):
    submission_id = submit_valid(client)
    url = f"/submissions/{submission_id}"

    login(client, SUBMITTER)  # a submitter may not approve
    assert post(client, f"{url}/approve").status_code == 403
    logout(client)

    login(client, FOCAL_POINT)
    assert 'action="%s/approve"' % url in client.get(url).get_data(as_text=True)
    assert post(client, f"{url}/accept").status_code == 403  # accepting is the observatory's act
    assert post(client, f"{url}/approve").status_code == 303
    assert status_of(portal_engine, submission_id) == "approved"
    logout(client)

    login(client, ONM_ANALYST)
    home = client.get("/?lang=en").get_data(as_text=True)
    assert "Waiting for your decision" in home
    assert post(client, f"{url}/accept").status_code == 303
    assert status_of(portal_engine, submission_id) == "accepted"
    history = client.get(f"{url}?lang=en").get_data(as_text=True)
    assert FOCAL_POINT in history and ONM_ANALYST in history


def test_rejection_needs_a_reason(client, portal_engine):
    submission_id = submit_valid(client)
    login(client, FOCAL_POINT)
    url = f"/submissions/{submission_id}"
    response = post(client, f"{url}/reject", {"reason": "  "})
    assert response.status_code == 303 and status_of(portal_engine, submission_id) == "validated"
    post(client, f"{url}/reject", {"reason": "Les dates de mars sont décalées d'un jour"})
    assert status_of(portal_engine, submission_id) == "rejected"
    assert "décalées" in client.get(url).get_data(as_text=True)


def test_workflow_post_without_csrf_is_refused(client, portal_engine):
    submission_id = submit_valid(client)
    login(client, FOCAL_POINT)
    assert client.post(f"/submissions/{submission_id}/approve").status_code == 400
    assert status_of(portal_engine, submission_id) == "validated"


# --- institution scoping ------------------------------------------------------------------------

def test_a_partner_cannot_see_another_institutions_submission(client):
    submission_id = submit_valid(client)
    login(client, OTHER_PARTNER)
    for suffix in ("", "/report.csv", "/report.json"):
        assert client.get(f"/submissions/{submission_id}{suffix}").status_code == 403
    assert post(client, f"/submissions/{submission_id}/approve").status_code == 403
    listing = client.get("/submissions").get_data(as_text=True)
    assert f"/submissions/{submission_id}\"" not in listing


def test_onm_sees_every_institution_and_a_parent_its_units(client):
    submission_id = submit_valid(client)
    for username in (ONM_ANALYST, "mi.focal_point"):  # MI covers its unit, the Border Police
        login(client, username)
        assert client.get(f"/submissions/{submission_id}").status_code == 200, username
        assert f"/submissions/{submission_id}\"" in client.get("/submissions").get_data(as_text=True)
        logout(client)


def test_navigation_shows_only_what_is_allowed(client):
    login(client, "onm.trainer")  # catalog only
    page = client.get("/").get_data(as_text=True)
    assert 'href="/catalog"' in page and 'href="/submissions"' not in page
    assert client.get("/submissions").status_code == 403
