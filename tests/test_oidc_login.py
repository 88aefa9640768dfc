"""Signing in through Keycloak (portal/oidc.py): the whole round trip through the portal, by hand.

Each round-trip test runs twice: against the Keycloak stand-in (tests/oidc_standin.py) and against
the session's real Keycloak, in a realm synced from policies/ (tests/keycloak_realm.py; an external
Keycloak when KEYCLOAK_URL is set, see oidc_standin.KEYCLOAK_VARIABLES). Tampered tokens need the
realm's signing key, so only the stand-in can make them.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlmodel import select

from services import db
from services.models import AuditEntry

from portal import ConfigurationRefused, create_app
from portal.access import SESSION_KEY
from tests.oidc_standin import (PORTAL_CLIENT, KeycloakStandIn, sign_in_through_keycloak, standin_clients,
                                standin_realm, standin_users)
from tests.portal_fixtures import csrf, login, portal_engine, portal_env  # noqa: F401


@pytest.fixture
def kc():
    with KeycloakStandIn(users=standin_users(), clients=standin_clients()) as standin:
        yield standin


@pytest.fixture(params=["standin", "keycloak"])
def realm(request):
    if request.param == "standin":
        return standin_realm(request.getfixturevalue("kc"))
    return request.getfixturevalue("keycloak_realm")


def portal_for(engine, realm_or_kc, **config):
    settings = realm_or_kc.portal_config() if hasattr(realm_or_kc, "portal_config") else {
        "OIDC_ISSUER": realm_or_kc.issuer, "OIDC_CLIENT_ID": PORTAL_CLIENT,
        "OIDC_CLIENT_SECRET": realm_or_kc.clients[PORTAL_CLIENT].secret}
    return create_app({"TESTING": True, "ENGINE": engine, **settings, **config})


def signed_in(client) -> dict | None:
    with client.session_transaction() as sess:
        return sess.get(SESSION_KEY)


def audit_actions(engine) -> list[AuditEntry]:
    with db.session(engine) as s:
        return list(s.exec(select(AuditEntry).order_by(AuditEntry.id)))


def sign_in(kc, client, username: str, next_url: str | None = None):
    return sign_in_through_keycloak(client, requests.Session(), username, kc.users[username].password, next_url)


# --- the login page --------------------------------------------------------------------------

def test_the_login_page_offers_keycloak_only_when_configured(portal_engine, kc):
    plain = create_app({"TESTING": True, "ENGINE": portal_engine}).test_client()
    assert 'id="keycloak-login"' not in plain.get("/login?lang=en").get_data(as_text=True)
    assert plain.get("/login/keycloak").status_code == 404

    page = portal_for(portal_engine, kc).test_client().get("/login?lang=en&next=/catalog").get_data(as_text=True)
    assert 'id="keycloak-login"' in page and "Sign in with Keycloak" in page
    assert "/login/keycloak?next=/catalog" in page
    assert 'name="password"' in page  # local accounts stay beside it in the demo


def test_without_local_accounts_keycloak_is_the_only_way(portal_engine, kc, monkeypatch):
    monkeypatch.setenv("MARSAD_LOCAL_ACCOUNTS", "0")
    client = portal_for(portal_engine, kc, LOCAL_ACCOUNTS=False).test_client()
    page = client.get("/login?lang=en").get_data(as_text=True)
    assert 'id="keycloak-login"' in page and 'name="password"' not in page
    assert login(client, "mi-paf.submitter").status_code == 404


# --- the round trip --------------------------------------------------------------------------

def test_round_trip_signs_in_with_pkce_state_and_nonce(realm, portal_engine):
    client = portal_for(portal_engine, realm).test_client()
    answer, authorize_url = sign_in_through_keycloak(client, requests.Session(), realm.user.username,
                                                     realm.user.password, next_url="/catalog")
    asked = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(realm.issuer + "/protocol/openid-connect/auth?")
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
    assert asked["nonce"][0] and asked["state"][0] and asked["response_type"] == ["code"]
    assert "openid" in asked["scope"][0].split() and asked["client_id"] == [realm.client_id]
    assert "code_verifier" not in authorize_url

    assert answer.status_code == 302 and answer.headers["Location"] == "/catalog", answer.get_data(as_text=True)
    # The ID token rides in the session cookie (for id_token_hint at logout): browsers drop cookies over 4 KB.
    assert len(answer.headers["Set-Cookie"]) < 4000
    principal = signed_in(client)
    assert principal["method"] == "oidc" and principal["username"] == realm.user.username
    if realm.user.institution:
        assert principal["institution"] == realm.user.institution
    if realm.user.roles:
        assert set(principal["roles"]) == set(realm.user.roles)
    assert client.get("/catalog").status_code == 200
    logins = [e for e in audit_actions(portal_engine) if e.action == "auth.login"]
    assert logins[-1].details["method"] == "oidc" and logins[-1].actor == realm.user.username


def test_logout_ends_the_keycloak_session_too(realm, portal_engine):
    client, browser = portal_for(portal_engine, realm).test_client(), requests.Session()
    sign_in_through_keycloak(client, browser, realm.user.username, realm.user.password)
    assert signed_in(client)

    answer = client.post("/logout", data={"csrf_token": csrf(client)})
    assert signed_in(client) is None
    end = answer.headers["Location"]
    query = parse_qs(urlsplit(end).query)
    assert end.startswith(realm.issuer + "/protocol/openid-connect/logout?")
    assert query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == ["http://localhost/login"]

    back = browser.get(end, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith("http://localhost/login")
    # Keycloak forgot the session: signing in again asks for the password.
    start = client.get("/login/keycloak")
    form = browser.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert form.status_code == 200 and 'name="password"' in form.text
    if realm.standin is not None:
        assert len(realm.standin.ended_sessions) == 1 and not realm.standin.sessions


def test_a_second_sign_in_rides_the_keycloak_session(portal_engine, kc):
    browser = requests.Session()
    first = portal_for(portal_engine, kc).test_client()
    sign_in_through_keycloak(first, browser, "amira", "amira-pw")
    other = portal_for(portal_engine, kc).test_client()
    start = other.get("/login/keycloak")
    straight_back = browser.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert straight_back.status_code == 302  # single sign-on: no form
    back = urlsplit(straight_back.headers["Location"])
    assert other.get(f"{back.path}?{back.query}").status_code == 302
    assert signed_in(other)["username"] == "amira"


@pytest.mark.parametrize("username, institution, roles", [
    ("karim", "ONM", {"onm_analyst"}),
    ("salma", "INS", {"analyst"}),       # institution from a user-attribute mapper
])
def test_institution_and_roles_come_from_the_tokens(portal_engine, kc, username, institution, roles):
    client = portal_for(portal_engine, kc).test_client()
    answer, _ = sign_in(kc, client, username)
    assert answer.status_code == 302
    assert signed_in(client)["institution"] == institution and set(signed_in(client)["roles"]) == roles


# --- refusals the person can act on ------------------------------------------------------------

@pytest.mark.parametrize("username, message", [
    ("ghost", "not attached to exactly one institution"),
    ("drifter", "not attached to exactly one institution"),
    ("roleless", "holds no role in this portal"),
])
def test_an_account_of_no_known_institution_or_role_is_refused_clearly(portal_engine, kc, username, message):
    client = portal_for(portal_engine, kc).test_client()
    client.get("/login?lang=en")
    answer, _ = sign_in(kc, client, username)
    assert answer.status_code == 403
    assert message in answer.get_data(as_text=True)
    assert signed_in(client) is None
    failed = [e for e in audit_actions(portal_engine) if e.action == "auth.login.failed"]
    assert failed[-1].actor == username and failed[-1].details["method"] == "oidc"


# --- tampering -------------------------------------------------------------------------------

def _refused(client, answer):
    assert answer.status_code in (401, 403), answer.get_data(as_text=True)[:300]
    assert signed_in(client) is None


@pytest.mark.parametrize("tamper, reason", [
    ({"foreign_key": True}, "bad_id_token"),                                # signed by someone else
    ({"id_token": {"aud": "another-client"}}, "bad_id_token"),              # meant for another client
    ({"id_token": {"aud": [PORTAL_CLIENT, "x"], "azp": "x"}}, "bad_id_token"),  # azp not us
    ({"id_token": {"exp": 1_000_000_000}}, "bad_id_token"),                  # expired (2001)
    ({"id_token": {"nonce": "replayed-nonce"}}, "bad_id_token"),             # another request's token
    ({"id_token": {"nonce": None}}, "bad_id_token"),                         # nonce dropped
    ({"id_token": {"iss": "https://evil.example/realms/marsad"}}, "bad_id_token"),
    ({"access_token": {"azp": "another-client"}}, "access_token_wrong_party"),
    ({"access_token": {"typ": "Refresh"}}, "access_token_wrong_type"),
    ({"access_token": {"exp": 1_000_000_000}}, "access_token_expired"),
])
def test_tampered_tokens_are_refused(portal_engine, kc, tamper, reason):
    for part, value in tamper.items():
        setattr(kc.tamper, part, value)
    client = portal_for(portal_engine, kc).test_client()
    answer, _ = sign_in(kc, client, "amira")
    _refused(client, answer)
    failed = [e for e in audit_actions(portal_engine) if e.action == "auth.login.failed"]
    assert failed[-1].details["reason"] == reason


def test_the_access_token_must_name_the_same_subject(portal_engine, kc):
    kc.tamper.access_token = {"sub": "someone-else"}
    client = portal_for(portal_engine, kc).test_client()
    answer, _ = sign_in(kc, client, "amira")
    _refused(client, answer)
    assert [e for e in audit_actions(portal_engine) if e.action == "auth.login.failed"][-1].details["reason"] \
        == "subject_mismatch"


def test_a_callback_without_the_state_of_this_browser_is_refused(portal_engine, kc):
    victim = portal_for(portal_engine, kc).test_client()
    attacker = portal_for(portal_engine, kc).test_client()
    start = attacker.get("/login/keycloak")
    browser = requests.Session()
    form = browser.get(start.headers["Location"], timeout=10)
    from tests.oidc_standin import login_form_action

    done = browser.post(login_form_action(form), data={"username": "amira", "password": "amira-pw"},
                        allow_redirects=False, timeout=10)
    back = urlsplit(done.headers["Location"])
    victim.get("/login/keycloak")  # the victim has a login of its own under way, with another state
    _refused(victim, victim.get(f"{back.path}?{back.query}"))


def test_a_code_is_good_once(portal_engine, kc):
    client = portal_for(portal_engine, kc).test_client()
    browser = requests.Session()
    start = client.get("/login/keycloak")
    form = browser.get(start.headers["Location"], timeout=10)
    from tests.oidc_standin import login_form_action

    done = browser.post(login_form_action(form), data={"username": "amira", "password": "amira-pw"},
                        allow_redirects=False, timeout=10)
    back = urlsplit(done.headers["Location"])
    with client.session_transaction() as sess:
        saved = dict(sess)
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    client.post("/logout", data={"csrf_token": csrf(client)})
    with client.session_transaction() as sess:  # replay with the state put back: the code itself is spent
        sess.update(saved)
    _refused(client, client.get(f"{back.path}?{back.query}"))


def test_a_response_from_another_issuer_is_refused(portal_engine, kc):
    client = portal_for(portal_engine, kc).test_client()
    client.get("/login/keycloak")
    _refused(client, client.get("/login/keycloak/callback?code=x&state=y&iss=https%3A%2F%2Fevil.example"))


def test_keycloak_unreachable_is_said_plainly(portal_engine):
    client = create_app({"TESTING": True, "ENGINE": portal_engine, "OIDC_ISSUER": "http://127.0.0.1:9/realms/x",
                         "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s"}).test_client()
    client.get("/login?lang=en")
    answer = client.get("/login/keycloak")
    assert answer.status_code == 503 and "cannot be reached" in answer.get_data(as_text=True)


# --- production -------------------------------------------------------------------------------

PRODUCTION = {"ENV": "production", "SECRET_KEY": "x" * 40, "DATABASE_URL": "postgresql+psycopg://m:m@127.0.0.1:1/m",
              "LOCAL_ACCOUNTS": "0", "COOKIE_SECURE": "1"}


def production(monkeypatch, **extra):
    for name, value in {**PRODUCTION, **extra}.items():
        monkeypatch.setenv(f"MARSAD_{name}", value)


def test_production_needs_keycloak_when_local_accounts_are_off(portal_env, monkeypatch):
    production(monkeypatch)
    with pytest.raises(ConfigurationRefused, match="nobody could sign in"):
        create_app()
    production(monkeypatch, OIDC_ISSUER="http://kc.example/realms/marsad", OIDC_CLIENT_ID="marsad-portal")
    with pytest.raises(ConfigurationRefused, match="not https.*MARSAD_OIDC_CLIENT_SECRET"):
        create_app()
    production(monkeypatch, OIDC_ISSUER="https://kc.example/realms/marsad", OIDC_CLIENT_SECRET="s" * 32)
    app = create_app()
    assert app.config["OIDC_ISSUER"] == "https://kc.example/realms/marsad"


def test_production_refuses_local_accounts(portal_env, monkeypatch):
    production(monkeypatch, LOCAL_ACCOUNTS="1", OIDC_ISSUER="https://kc.example/realms/marsad",
               OIDC_CLIENT_ID="marsad-portal", OIDC_CLIENT_SECRET="s" * 32)
    with pytest.raises(ConfigurationRefused, match="local accounts"):
        create_app()
