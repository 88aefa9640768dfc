"""Sessions kept on the server (portal/sessions.py): a copied cookie is refused once the session
has ended — logout, deactivation, role change, password change, idle and absolute lifetime — on
SQLite and PostgreSQL; and a throttled login leaves an audit entry."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import update
from sqlmodel import select

from services import accounts, db
from services.accounts import DEMO_PASSWORD
from services.config import Settings
from services.models import Account, AuditEntry, PortalSession
from services.policy import default_policies

from portal import create_app
from portal.users import LocalDirectory
from tests.ingest_support import engine  # noqa: F401  (SQLite and PostgreSQL)
from tests.portal_fixtures import app, client, csrf, login, logout, portal_engine, portal_env, post  # noqa: F401

COOKIE = "marsad_session"
USER = "ins.analyst"
MANAGER = "ins.focal_point"


def copied(client) -> str:
    return client.get_cookie(COOKIE).value


def replay(app, cookie: str) -> int:
    """The status of the home page for someone holding only the copied cookie (200: signed in)."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief.get("/").status_code


def signed_in(app, username=USER, password=DEMO_PASSWORD):
    browser = app.test_client()
    assert login(browser, username, password).status_code == 302
    cookie = copied(browser)
    assert replay(app, cookie) == 200
    return browser, cookie


def shift(engine, field: str, by: dt.timedelta) -> None:
    """Move every session's `field` back in time by `by` (as if that much time had passed)."""
    with db.session(engine) as s:
        for row in s.exec(select(PortalSession)):
            setattr(row, field, getattr(row, field) - by)
            s.add(row)
        s.commit()


def rows(engine) -> list[PortalSession]:
    with db.session(engine) as s:
        return list(s.exec(select(PortalSession)))


@pytest.fixture
def any_db_app(engine, portal_env):  # noqa: F811
    with db.session(engine) as s:
        accounts.seed_demo(s, default_policies())
    return create_app({"TESTING": True, "ENGINE": engine})


def test_logout_ends_the_session_for_a_copied_cookie(any_db_app):
    browser, cookie = signed_in(any_db_app)
    assert logout(browser).status_code == 302
    assert replay(any_db_app, cookie) == 302


def test_deactivation_ends_the_session_for_good(any_db_app, engine):  # noqa: F811
    _, cookie = signed_in(any_db_app)
    manager, _ = signed_in(any_db_app, MANAGER)
    assert post(manager, "/users/deactivate", {"username": USER}).status_code == 303
    assert replay(any_db_app, cookie) == 302
    with db.session(engine) as s:   # brought back: the old session stays ended
        s.exec(update(Account).where(Account.username == USER).values(active=True))
        s.commit()
    assert replay(any_db_app, cookie) == 302


def test_a_role_change_ends_the_session_even_when_changed_back(app):
    _, cookie = signed_in(app)
    manager, _ = signed_in(app, MANAGER)
    assert post(manager, "/users/roles", {"username": USER, "roles": ["focal_point"]}).status_code == 303
    assert post(manager, "/users/roles", {"username": USER, "roles": ["analyst"]}).status_code == 303
    assert replay(app, cookie) == 302
    signed_in(app)   # signing in again works, with the roles as they are now


def test_a_password_change_ends_the_session(app, portal_engine):
    _, cookie = signed_in(app)
    with app.app_context(), db.session(portal_engine) as s:
        LocalDirectory(s).set_password(USER, "a-new-password-123")
    assert replay(app, cookie) == 302
    signed_in(app, USER, "a-new-password-123")


def test_sessions_end_after_the_idle_lifetime(app, portal_engine):
    _, cookie = signed_in(app)
    idle = app.config["SESSION_IDLE_LIFETIME"]
    shift(portal_engine, "last_seen", idle - dt.timedelta(seconds=30))
    assert replay(app, cookie) == 200          # used in time: still open, and its idle clock starts again
    shift(portal_engine, "last_seen", idle - dt.timedelta(seconds=30))
    assert replay(app, cookie) == 200
    shift(portal_engine, "last_seen", idle)
    assert replay(app, cookie) == 302


def test_sessions_end_after_the_absolute_lifetime_however_busy(app, portal_engine):
    _, cookie = signed_in(app)
    absolute = app.config["PERMANENT_SESSION_LIFETIME"]
    shift(portal_engine, "created_at", absolute)
    assert replay(app, cookie) == 302


def test_answers_do_not_renew_the_cookie_and_the_server_keeps_only_a_hash(app, portal_engine):
    browser = app.test_client()
    browser.get("/login")
    before = copied(browser)
    login(browser, USER)
    cookie = copied(browser)
    assert cookie != before                         # a new id at sign-in: no session fixation
    assert replay(app, before) == 302
    for url in ("/", "/catalog", "/submissions"):
        assert "Set-Cookie" not in browser.get(url).headers, url
    stored = {row.id: row for row in rows(portal_engine)}
    assert cookie not in stored and stored[hashlib.sha256(cookie.encode()).hexdigest()].username == USER


def test_csrf_still_guards_the_server_side_session(app):
    browser, cookie = signed_in(app)
    assert browser.post("/logout").status_code == 400                         # no token
    assert browser.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert replay(app, cookie) == 200
    assert logout(browser).status_code == 302


def test_session_lifetimes_are_settings(monkeypatch):
    monkeypatch.setenv("MARSAD_SESSION_IDLE_MINUTES", "15")
    monkeypatch.setenv("MARSAD_SESSION_HOURS", "2")
    assert (Settings().session_idle_minutes, Settings().session_hours) == (15, 2)
    for wrong in ("0", "-5", "half an hour", ""):
        monkeypatch.setenv("MARSAD_SESSION_IDLE_MINUTES", wrong)
        with pytest.raises(ValueError, match="MARSAD_SESSION_IDLE_MINUTES must be a whole number of at least 1"):
            Settings()


def test_a_throttled_login_is_audited_once_per_window(client, portal_engine):
    for _ in range(10):
        assert login(client, USER, "guess").status_code == 401
    for _ in range(5):
        assert login(client, USER, "guess").status_code == 429
    with db.session(portal_engine) as s:
        throttled = list(s.exec(select(AuditEntry).where(AuditEntry.action == "auth.login.throttled")))
    # A flood of refused attempts costs the client nothing: one entry says it, not one per attempt.
    assert len(throttled) == 1
    entry = throttled[0]
    assert entry.actor == USER and entry.details["address"] == "127.0.0.1"
    assert entry.details["method"] == "local"


def test_ended_sessions_are_swept_from_the_table(app, portal_engine):
    signed_in(app)
    shift(portal_engine, "last_seen", app.config["SESSION_IDLE_LIFETIME"])
    ended = {row.id for row in rows(portal_engine)}
    fresh = create_app({"TESTING": True, "ENGINE": portal_engine}).test_client()
    fresh.get("/login")        # a new session starts: the sweep runs (at most every few minutes)
    left = {row.id for row in rows(portal_engine)}
    assert ended and not (ended & left) and len(left) == 1
