"""`next` after signing in (portal.access.safe_next): only a path on this portal, judged the way a
browser reads the Location it is sent — whoever asks, signed in or not, locally or through Keycloak."""
from __future__ import annotations

from urllib.parse import unquote, urljoin, urlsplit

import requests
from argon2 import PasswordHasher

from services import accounts, db

from portal import create_app
from tests.oidc_standin import PORTAL_CLIENT, KeycloakStandIn, sign_in_through_keycloak, standin_clients, standin_users
from tests.portal_fixtures import app, client, csrf, login, portal_engine, portal_env  # noqa: F401

SUBMITTER = "mi-paf.submitter"
HOME = "/"
QUICK = "quick-password"

# Each as it stands in the query string of the URL an attacker hands out.
BYPASSES = [
    "//evil.example/path",
    "///evil.example/path",
    "/%09/evil.example/path",           # browsers drop tab, CR and LF anywhere in a URL
    "/%0a/evil.example",
    "/%0d/evil.example",
    "/%0d%0a/evil.example",
    "%0d%0aSet-Cookie:%20stolen=1",     # header injection
    "/%00/evil.example",
    "%20//evil.example",                # leading space
    "/%20/evil.example",
    "/%5Cevil.example",                 # /\  (backslashes count as slashes)
    "%5C/evil.example",                 # \/
    "%5C%5Cevil.example",               # \\
    "/%5C%09/evil.example",
    "%2F%2Fevil.example",               # encoded //
    "%2F%5Cevil.example",
    "%252F%252Fevil.example",           # double-encoded: a relative path once decoded
    "https://evil.example/",
    "HTTPS://evil.example/",
    "http:evil.example",
    "http:/evil.example",
    "ht%09tps://evil.example",
    "javascript:alert(1)",
    "java%0d%0ascript:alert(1)",
    "data:text/html,%3Cscript%3Ealert(1)%3C/script%3E",
    "//localhost@evil.example/",
    "https://localhost@evil.example/",
    "@evil.example",
    "evil.example",
    "//%5B::1%5D",                      # not even a valid URL to urlsplit
    "/%EF%BC%8F/evil.example",          # fullwidth solidus U+FF0F
    "%EF%BC%8F%EF%BC%8Fevil.example",
    "/%EF%BC%BCevil.example",           # fullwidth reverse solidus U+FF3C
    "/%EF%B9%A8evil.example",           # small reverse solidus U+FE68
    "/%E3%80%80/evil.example",          # ideographic space U+3000
    "/%E2%80%8B/evil.example",          # zero-width space U+200B
    "/%E2%80%AE/evil.example",          # right-to-left override U+202E
    "https%EF%BC%9A//evil.example",     # fullwidth colon U+FF1A
]

# Paths on this portal, with what the browser must be sent to.
KEPT = {
    "/catalog": "/catalog",
    "/submissions%3Fpage%3D2%26status%3Drejected": "/submissions?page=2&status=rejected",
    "/catalog/datasets/border_crossings": "/catalog/datasets/border_crossings",
    "/catalog%3Fq%3D%D9%87%D8%AC%D8%B1%D8%A9": "/catalog?q=%D9%87%D8%AC%D8%B1%D8%A9",
}


def lands_on_this_site(location: str) -> bool:
    """Where a browser would go, reading the Location as browsers do."""
    read = "".join(ch for ch in location if ch not in "\t\r\n").replace("\\", "/")
    target = urlsplit(urljoin("http://localhost/login", read))
    return target.scheme == "http" and target.netloc == "localhost"


def signed_in(client):
    assert login(client, SUBMITTER).status_code == 302
    return client


def test_a_signed_in_user_is_not_sent_off_site(client):
    signed_in(client)
    for payload in BYPASSES:
        answer = client.get(f"/login?next={payload}")
        assert (answer.status_code, answer.headers["Location"]) == (302, HOME), payload


def test_a_user_signing_in_is_not_sent_off_site(client, portal_engine):
    # 78 sign-ins: the account's hash is made cheap to check (Argon2 reads its cost from the hash).
    with db.session(portal_engine) as s:
        account = accounts.find(s, SUBMITTER)
        account.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(QUICK)
        s.add(account)
        s.commit()
    for payload in BYPASSES:
        # From the form's hidden field, and from the query string the login page was opened with.
        answer = login(client, SUBMITTER, QUICK, next=unquote(payload))
        assert (answer.status_code, answer.headers["Location"]) == (302, HOME), payload
        client.post("/logout", data={"csrf_token": csrf(client)})
        answer = client.post(f"/login?next={payload}", data={"username": SUBMITTER, "password": QUICK,
                                                              "csrf_token": csrf(client)})
        assert (answer.status_code, answer.headers["Location"]) == (302, HOME), payload
        client.post("/logout", data={"csrf_token": csrf(client)})


def test_the_login_page_does_not_carry_a_hostile_next(client):
    for payload in BYPASSES:
        page = client.get(f"/login?lang=en&next={payload}")
        assert page.status_code == 200, payload
        assert 'name="next"' not in page.get_data(as_text=True), payload
    assert 'name="next" value="/catalog"' in client.get("/login?next=/catalog").get_data(as_text=True)


def test_paths_on_this_portal_are_kept(client):
    signed_in(client)
    for payload, expected in KEPT.items():
        answer = client.get(f"/login?next={payload}")
        assert (answer.status_code, answer.headers["Location"]) == (302, expected), payload
        assert lands_on_this_site(answer.headers["Location"])
    page = client.get("/login?lang=en&next=/catalog")   # signed in: straight there
    assert page.headers["Location"] == "/catalog"


def test_under_a_prefix_only_paths_of_this_portal(portal_engine):
    from werkzeug.exceptions import NotFound
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    app = create_app({"TESTING": True, "ENGINE": portal_engine})
    app.wsgi_app = DispatcherMiddleware(NotFound(), {"/sandbox/one": app.wsgi_app})
    browser = app.test_client()
    answer = browser.post("/sandbox/one/login", data={"username": SUBMITTER, "password": "marsad-demo",
                                                      "csrf_token": csrf(browser), "next": "/sandbox/two/catalog"})
    assert answer.headers["Location"] == "/sandbox/one/"        # another portal on the same host
    answer = browser.get("/sandbox/one/login?next=/sandbox/one/catalog")
    assert answer.headers["Location"] == "/sandbox/one/catalog"


def test_keycloak_sign_in_of_a_signed_in_user_is_not_sent_off_site(portal_engine):
    # Signed in already: /login/keycloak answers before it ever asks Keycloak anything.
    app = create_app({"TESTING": True, "ENGINE": portal_engine, "OIDC_ISSUER": "https://kc.invalid/realms/marsad",
                      "OIDC_CLIENT_ID": "portal", "OIDC_CLIENT_SECRET": "secret"})
    client = signed_in(app.test_client())
    for payload in BYPASSES:
        answer = client.get(f"/login/keycloak?next={payload}")
        assert (answer.status_code, answer.headers["Location"]) == (302, HOME), payload
    assert client.get("/login/keycloak?next=/catalog").headers["Location"] == "/catalog"


def test_the_keycloak_round_trip_is_not_sent_off_site(portal_engine):
    with KeycloakStandIn(users=standin_users(), clients=standin_clients()) as kc:
        app = create_app({"TESTING": True, "ENGINE": portal_engine, "OIDC_ISSUER": kc.issuer,
                          "OIDC_CLIENT_ID": PORTAL_CLIENT, "OIDC_CLIENT_SECRET": kc.clients[PORTAL_CLIENT].secret})
        for payload in ("/%09/evil.example/path", "/%5Cevil.example", "%0d%0aSet-Cookie:%20x=1", "https://evil.example",
                        "/%EF%BC%8F/evil.example"):
            client = app.test_client()
            answer, _ = sign_in_through_keycloak(client, requests.Session(), "amira", "amira-pw", payload)
            assert (answer.status_code, answer.headers["Location"]) == (302, HOME), payload
        answer, _ = sign_in_through_keycloak(app.test_client(), requests.Session(), "amira", "amira-pw", "/catalog")
        assert answer.headers["Location"] == "/catalog"
