"""The JSON API (/api/v1): bearer tokens only, the same policy decisions as the pages, JSON errors,
an OpenAPI description generated from the route table.

Keycloak tokens come from the stand-in (tests/oidc_standin.py); one test also asks the session's real
Keycloak (tests/keycloak_realm.py) for a client-credentials token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json

import pytest
from click.testing import CliRunner
from sqlmodel import select

from services import accounts, db
from services.cli import main as marsad
from services.identity import api_tokens
from services.models import Account, Submission

from portal import create_app
from tests.oidc_standin import PORTAL_CLIENT, KeycloakStandIn, standin_clients, standin_users
from tests.portal_fixtures import (border_crossings_csv, crossing, csrf, login, portal_engine,  # noqa: F401
                                   portal_env)


@pytest.fixture
def kc():
    with KeycloakStandIn(users=standin_users(), clients=standin_clients()) as standin:
        yield standin


@pytest.fixture
def app(portal_engine, kc):
    return create_app({"TESTING": True, "ENGINE": portal_engine, "OIDC_ISSUER": kc.issuer,
                       "OIDC_CLIENT_ID": PORTAL_CLIENT, "OIDC_CLIENT_SECRET": kc.clients[PORTAL_CLIENT].secret})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(portal_engine):
    """A local API token for each demo account, by username (issued lazily)."""
    made: dict[str, str] = {}

    class Tokens(dict):
        def __missing__(self, username):
            with db.session(portal_engine) as s:
                made[username] = api_tokens.issue(s, username)[0]
            return made[username]
    return Tokens()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token: str, data: bytes, dataset: str = "border_crossings", **form):
    return client.post("/api/v1/submissions", headers=bearer(token), content_type="multipart/form-data",
                       data={"dataset": dataset, "file": (io.BytesIO(data), "file.csv"), **form})


def valid_crossings(n: int = 3, start: int = 1) -> bytes:
    return border_crossings_csv([crossing(i) for i in range(start, start + n)])


MIXED = [{"sex": sex, "direction": direction, "nationality": nationality, "event_date": f"2024-{month:02d}-14"}
         for sex in ("F", "M") for direction in ("ENTRY", "EXIT") for nationality in ("TUN", "LBY", "FRA")
         for month in (6, 7)]


@pytest.fixture
def accepted_crossings(client, tokens):
    """A file of crossings in 2024 (2 months, 3 nationalities, both sexes and directions, some cells
    small), submitted, approved and accepted through the API: the indicators count it. Its id."""
    rows = [crossing(n, **MIXED[n % len(MIXED)]) for n in range(1, 80)]
    rows += [crossing(n, nationality="DZA", sex="MF"[n % 2], event_date="2024-06-02") for n in range(80, 83)]
    made = upload(client, tokens["mi-paf.submitter"], border_crossings_csv(rows))
    assert made.status_code == 201 and made.get_json()["valid"], made.get_json()
    sub = made.get_json()["submission"]["id"]
    for user, action in (("mi-paf.focal_point", "approve"), ("onm.onm_analyst", "accept")):
        moved = client.post(f"/api/v1/submissions/{sub}/{action}", headers=bearer(tokens[user]))
        assert moved.status_code == 200, moved.get_json()
    return sub


# --- authentication ----------------------------------------------------------------------------

def test_no_token_no_answer(client):
    answer = client.get("/api/v1/datasets")
    assert answer.status_code == 401 and answer.is_json
    assert answer.get_json()["error"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_local_token_acts_as_its_account(client, tokens):
    answer = client.get("/api/v1/datasets", headers=bearer(tokens["mi-paf.submitter"]))
    assert answer.status_code == 200
    mine = {d["code"]: d["you_submit"] for d in answer.get_json()["items"]}
    assert mine["border_crossings"] is True and mine["asylum_refugees"] is False


def test_the_session_cookie_is_neither_read_nor_set(client, tokens):
    login(client, "mi-paf.submitter")
    assert client.get("/catalog").status_code == 200          # the page knows the session...
    assert client.get("/api/v1/datasets").status_code == 401  # ...the API does not
    answer = client.get("/api/v1/datasets", headers=bearer(tokens["mi-paf.submitter"]))
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    assert "Set-Cookie" not in client.get("/api/v1/openapi.json").headers


def test_posts_need_no_csrf_token_but_a_bearer_token(client, tokens):
    assert upload(client, tokens["mi-paf.submitter"], valid_crossings()).status_code == 201
    login(client, "mi-paf.submitter")  # a session alone does not submit, even with its CSRF token
    answer = client.post("/api/v1/submissions", data={"dataset": "border_crossings", "csrf_token": csrf(client)})
    assert answer.status_code == 401


def test_tokens_are_stored_as_hashes_only(portal_engine, portal_env, monkeypatch, client):
    runner = CliRunner()
    made = runner.invoke(marsad, ["tokens", "create", "--user", "unhcr.submitter", "--label", "nightly push"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert token.startswith("marsad_") and len(token) > 40
    with db.session(portal_engine) as s:
        record = s.exec(select(api_tokens.ApiToken)).one()
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert record.shown == token[:12] and record.label == "nightly push"
    database = portal_env.split("///", 1)[1]
    portal_engine.dispose()
    with open(database, "rb") as fh:
        assert token[12:].encode() not in fh.read()  # nowhere in the database file
    assert client.get("/api/v1/submissions", headers=bearer(token)).status_code == 200

    listed = runner.invoke(marsad, ["tokens", "list"])
    assert record.shown in listed.output and token not in listed.output
    assert runner.invoke(marsad, ["tokens", "revoke", str(record.id)]).exit_code == 0
    assert client.get("/api/v1/submissions", headers=bearer(token)).status_code == 401
    assert runner.invoke(marsad, ["tokens", "create", "--user", "nobody"]).exit_code == 4


def test_a_token_dies_with_its_account_and_its_expiry(client, tokens, portal_engine):
    token = tokens["mi-paf.submitter"]
    with db.session(portal_engine) as s:
        expired, _ = api_tokens.issue(s, "unhcr.submitter", days=1)
        record = s.exec(select(api_tokens.ApiToken).where(api_tokens.ApiToken.username == "unhcr.submitter")).one()
        record.expires_at = record.created_at.replace(year=2000)
        s.add(record)
        account = accounts.find(s, "mi-paf.submitter")
        account.active = False
        s.add(account)
        s.commit()
    assert client.get("/api/v1/datasets", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/datasets", headers=bearer(expired)).status_code == 401
    assert client.get("/api/v1/datasets", headers=bearer("marsad_" + "x" * 43)).status_code == 401


def test_local_tokens_are_refused_in_production(app, tokens):
    token = tokens["mi-paf.submitter"]
    app.config["MARSAD_ENV"] = "production"
    answer = app.test_client().get("/api/v1/datasets", headers=bearer(token))
    assert answer.status_code == 401 and "Keycloak" in answer.get_json()["message"]


# --- Keycloak client-credentials tokens ----------------------------------------------------------

def test_a_keycloak_api_client_submits(client, kc, portal_engine):
    token = kc.client_credentials_token("mi-paf-api")
    answer = upload(client, token, valid_crossings())
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["valid"] and body["submission"]["institution"] == "MI-PAF"
    assert body["submission"]["submitted_by"] == "service-account-mi-paf-api"
    assert answer.headers["Location"] == f"/api/v1/submissions/{body['submission']['id']}"
    other = kc.client_credentials_token("unhcr-api")
    assert client.get(answer.headers["Location"], headers=bearer(other)).status_code == 404


def _none_alg(claims: dict) -> str:
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _hs256_with_public_key(kc, claims: dict) -> str:
    """The algorithm-confusion forgery: HMAC keyed with the realm's public key, which anyone can fetch."""
    def part(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    secret = kc.private_key.as_pem(private=False)
    signing = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kc.kid}).encode()) + b"." + part(
        json.dumps(claims).encode())
    return (signing + b"." + part(hmac.new(secret, signing, hashlib.sha256).digest())).decode()


GOOD = {"azp": "mi-paf-api", "aud": ["account", PORTAL_CLIENT], "preferred_username": "service-account-mi-paf-api",
        "institution": "MI-PAF", "realm_access": {"roles": ["submitter"]}}


FORGERIES = [
    pytest.param(lambda kc: kc.mint(GOOD, key=kc.foreign_key), id="bad-signature"),
    pytest.param(lambda kc: kc.mint({**GOOD, "aud": "account"}), id="wrong-audience"),
    pytest.param(lambda kc: kc.client_credentials_token("deaf-api"), id="no-audience-mapper"),
    pytest.param(lambda kc: kc.mint({**GOOD, "azp": None}), id="no-azp"),
    pytest.param(lambda kc: kc.mint({**GOOD, "exp": 1_000_000_000}), id="expired"),
    pytest.param(lambda kc: kc.mint({**GOOD, "iss": "http://127.0.0.1:1/realms/marsad"}), id="wrong-issuer"),
    pytest.param(lambda kc: kc.mint({**GOOD, "typ": "ID"}), id="id-token-as-bearer"),
    pytest.param(lambda kc: kc.mint({**GOOD, "typ": "Refresh"}), id="refresh-token-as-bearer"),
    pytest.param(lambda kc: kc.mint({**GOOD, "exp": None}), id="no-expiry"),
    pytest.param(lambda kc: _none_alg({**GOOD, "iss": kc.issuer, "typ": "Bearer", "exp": 4_000_000_000}),
                 id="alg-none"),
    pytest.param(lambda kc: _hs256_with_public_key(kc, {**GOOD, "iss": kc.issuer, "typ": "Bearer",
                                                        "exp": 4_000_000_000}), id="hs256-confusion"),
    pytest.param(lambda kc: kc.mint(GOOD)[:-4] + "AAAA", id="corrupted"),
    pytest.param(lambda kc: "not.a.token", id="garbage"),
]


def test_forged_or_misdirected_tokens_are_refused(client, kc):
    assert client.get("/api/v1/datasets", headers=bearer(kc.mint(GOOD))).status_code == 200  # the genuine one
    wrong = []
    for forgery in FORGERIES:
        forge, = forgery.values
        answer = client.get("/api/v1/datasets", headers=bearer(forge(kc)))
        if answer.status_code != 401 or answer.get_json()["error"] != "unauthorized":
            wrong.append((forgery.id, answer.status_code, answer.get_json()))
    assert not wrong, wrong


def test_a_token_of_another_realm_is_refused(client):
    with KeycloakStandIn(clients=standin_clients()) as elsewhere:
        token = elsewhere.client_credentials_token("mi-paf-api")
    assert client.get("/api/v1/datasets", headers=bearer(token)).status_code == 401


def test_a_genuine_token_of_no_known_institution_is_forbidden(client, kc):
    answer = client.get("/api/v1/datasets", headers=bearer(kc.client_credentials_token("stranger-api")))
    assert answer.status_code == 403 and answer.get_json()["error"] == "no_identity"


def test_keycloak_tokens_need_keycloak_configured(portal_engine, kc):
    plain = create_app({"TESTING": True, "ENGINE": portal_engine}).test_client()
    answer = plain.get("/api/v1/datasets", headers=bearer(kc.client_credentials_token("mi-paf-api")))
    assert answer.status_code == 401 and "MARSAD_OIDC_ISSUER" in answer.get_json()["message"]


def test_a_real_keycloak_client_credentials_token(portal_engine, keycloak_realm):
    realm = keycloak_realm
    assert realm.api_client is not None, "set KEYCLOAK_API_CLIENT_ID for an external Keycloak"
    client = create_app({"TESTING": True, "ENGINE": portal_engine, **realm.portal_config()}).test_client()
    token = realm.api_token()
    assert client.get("/api/v1/datasets", headers=bearer(token)).status_code == 200
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    assert client.get("/api/v1/datasets", headers=bearer(f"{head}.{payload}.{flipped}")).status_code == 401


# --- the same decisions as the pages -------------------------------------------------------------

@pytest.fixture
def submissions(client, tokens):
    """One valid Border Police submission and one rejected UNHCR file, made through the API."""
    paf = upload(client, tokens["mi-paf.submitter"], valid_crossings())
    unhcr = upload(client, tokens["unhcr.submitter"], b"not,a,refugee,file\n1,2,3,4\n", dataset="asylum_refugees")
    assert paf.status_code == 201 and unhcr.status_code == 201
    assert not unhcr.get_json()["valid"] and unhcr.get_json()["report"]["errors"]
    return {"paf": paf.get_json()["submission"]["id"], "unhcr": unhcr.get_json()["submission"]["id"]}


READS = [
    # (user, path, expected status); {paf} and {unhcr} are the two submissions
    ("mi-paf.submitter", "/submissions/{paf}", 200),
    ("mi-paf.submitter", "/submissions/{unhcr}", 404),
    ("mi-paf.submitter", "/submissions/{unhcr}/report", 404),
    ("unhcr.submitter", "/submissions/{paf}", 404),
    ("unhcr.submitter", "/submissions/{unhcr}/report?lang=ar", 200),
    ("mi.focal_point", "/submissions/{paf}", 200),        # the Ministry covers its Border Police
    ("mi.focal_point", "/submissions/{unhcr}", 404),
    ("mi-gn.submitter", "/submissions/{paf}", 404),       # a sibling unit does not
    ("ins.analyst", "/submissions/{paf}", 404),
    ("onm.onm_analyst", "/submissions/{unhcr}", 200),
    ("onm.auditor", "/submissions/{paf}/report", 200),
    ("onm.trainer", "/submissions", 403),                 # no submission.read at all
    ("onm.trainer", "/datasets", 200),
    ("ins.analyst", "/datasets/border_crossings", 200),
    ("ins.analyst", "/datasets/nonexistent", 404),
    ("mi-paf.submitter", "/submissions/999999", 404),
]


LISTS = [
    # (user, the submissions its list shows)
    ("mi-paf.submitter", {"paf"}), ("unhcr.submitter", {"unhcr"}), ("mi.analyst", {"paf"}),
    ("ins.analyst", set()), ("onm.onm_analyst", {"paf", "unhcr"}), ("onm.admin", {"paf", "unhcr"}),
]

SUBMITS = [
    # (user, dataset, expected status)
    ("mi-paf.submitter", "border_crossings", 201),
    ("mi-paf.focal_point", "border_crossings", 201),
    ("mi-paf.submitter", "asylum_refugees", 403),   # not in its agreement
    ("mi.focal_point", "border_crossings", 403),    # a parent does not submit for its units
    ("ins.analyst", "border_crossings", 403),
    ("onm.onm_analyst", "border_crossings", 403),
    ("mi-paf.analyst", "border_crossings", 403),    # analysts read, they do not submit
    ("mi-paf.submitter", "no_such_dataset", 404),
]


# The tables are checked row by row in one test each (one database set-up, not one per row);
# every row that disagrees is reported.

def test_reads_are_scoped_by_the_policy(client, tokens, submissions):
    wrong = []
    for user, path, status in READS:
        answer = client.get("/api/v1" + path.format(**submissions), headers=bearer(tokens[user]))
        if answer.status_code != status or not answer.is_json:
            wrong.append((user, path, status, answer.status_code, answer.get_json()))
    assert not wrong, wrong


def test_no_institution_lists_another_s_submissions(client, tokens, submissions):
    wrong = []
    for user, seen in LISTS:
        body = client.get("/api/v1/submissions", headers=bearer(tokens[user])).get_json()
        ids = {item["id"] for item in body["items"]}
        if ids != {submissions[k] for k in seen} or body["total"] != len(seen):
            wrong.append((user, seen, ids))
    assert not wrong, wrong


def test_who_may_submit_what(client, tokens):
    wrong = []
    for n, (user, dataset, status) in enumerate(SUBMITS):
        answer = upload(client, tokens[user], valid_crossings(start=100 * n), dataset=dataset)
        if answer.status_code != status:
            wrong.append((user, dataset, status, answer.status_code, answer.get_json()))
    assert not wrong, wrong


def test_the_workflow_through_the_api(client, tokens, submissions, portal_engine):
    paf = submissions["paf"]
    url = f"/api/v1/submissions/{paf}"
    assert client.post(f"{url}/approve", headers=bearer(tokens["mi-paf.submitter"])).status_code == 403
    assert client.post(f"{url}/approve", headers=bearer(tokens["unhcr.submitter"])).status_code == 404
    assert client.post(f"{url}/accept", headers=bearer(tokens["onm.onm_analyst"])).status_code == 409  # not approved
    detail = client.get(url, headers=bearer(tokens["mi-paf.focal_point"])).get_json()
    assert set(detail["moves"]) == {"approve", "reject"}
    approved = client.post(f"{url}/approve", headers=bearer(tokens["mi-paf.focal_point"]))
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert client.post(f"{url}/accept", headers=bearer(tokens["mi-paf.focal_point"])).status_code == 403
    refused = client.post(f"{url}/reject", headers=bearer(tokens["onm.onm_analyst"]), json={})
    assert refused.status_code == 422 and refused.get_json()["error"] == "reason_required"
    accepted = client.post(f"{url}/accept", headers=bearer(tokens["onm.onm_analyst"]))
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    history = [e["to"] for e in accepted.get_json()["history"]]
    assert history == ["submitted", "validated", "approved", "accepted"]
    with db.session(portal_engine) as s:
        assert s.get(Submission, paf).status == "accepted"


def test_a_rejected_file_is_replaced_through_the_api(client, tokens):
    bad = upload(client, tokens["mi-paf.submitter"], valid_crossings(2) + b"E9,not-a-date\r\n")
    assert bad.status_code == 201 and not bad.get_json()["valid"]
    bad_id = bad.get_json()["submission"]["id"]
    report = client.get(f"/api/v1/submissions/{bad_id}/report?lang=fr", headers=bearer(tokens["mi-paf.submitter"]))
    assert report.status_code == 200 and report.get_json()["language"] == "fr" and report.get_json()["errors"]
    fixed = upload(client, tokens["mi-paf.submitter"], valid_crossings(2, start=50), replaces=str(bad_id))
    assert fixed.status_code == 201 and fixed.get_json()["submission"]["replaces"] == bad_id
    again = upload(client, tokens["mi-paf.submitter"], valid_crossings(2, start=50))
    assert again.status_code == 200 and again.get_json()["duplicate_of"] == fixed.get_json()["submission"]["id"]


# --- errors and the description ----------------------------------------------------------------

def test_errors_are_json(client, tokens):
    token = tokens["mi-paf.submitter"]
    for method, path, status in [("GET", "/api/v1/nowhere", 404), ("GET", "/api/v1/submissions/1/approve", 405),
                                 ("DELETE", "/api/v1/datasets", 405), ("GET", "/api/v1/submissions?status=lost", 400),
                                 ("POST", "/api/v1/submissions", 400)]:
        answer = client.open(path, method=method, headers=bearer(token))
        assert answer.status_code == status, (method, path)
        assert set(answer.get_json()) == {"error", "message"}, (method, path)


def test_an_upload_too_large_is_a_json_413(portal_engine, tokens):
    small = create_app({"TESTING": True, "ENGINE": portal_engine, "MAX_CONTENT_LENGTH": 2048}).test_client()
    answer = upload(small, tokens["mi-paf.submitter"], valid_crossings(100))
    assert answer.status_code == 413 and answer.get_json()["error"] == "payload_too_large"


def test_the_openapi_description_is_valid_and_matches_the_routes(app, client):
    validator = pytest.importorskip("openapi_spec_validator", reason="pip install openapi-spec-validator==0.9.0")
    from portal.api.routes import ROUTES

    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = answer.get_json()
    validator.validate(document)
    assert document["openapi"].startswith("3.1")
    assert "keycloak" in document["components"]["securitySchemes"]

    rules = {(rule.rule, method) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
             and rule.endpoint != "api.unrouted" for method in rule.methods - {"HEAD", "OPTIONS"}}
    table = {("/api/v1" + route.rule, route.method) for route in ROUTES}
    assert rules == table      # every route of the table is served, and nothing outside it but JSON errors
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    assert documented == {(route.path, route.method) for route in ROUTES}


# --- indicators ------------------------------------------------------------------------------------

def test_indicators_are_read_at_the_reader_s_level(client, tokens, monkeypatch):
    import services.indicators
    from services.indicators.table import IndicatorTable

    asked = []

    def fake_query(engine, indicator, filters=None, by=()):
        asked.append((indicator, filters, by))
        return IndicatorTable(indicator, ("direction",), {("ENTRY",): 3, ("EXIT",): 40}, "crossings")
    monkeypatch.setattr(services.indicators, "query", fake_query)

    listed = client.get("/api/v1/indicators", headers=bearer(tokens["mi-paf.submitter"]))
    assert listed.status_code == 200
    assert "border_movements" in {i["code"] for i in listed.get_json()["items"]}
    aggregates = client.get("/api/v1/indicators/border_movements?by=direction&year=2024",
                            headers=bearer(tokens["mi.analyst"]))
    assert aggregates.status_code == 200, aggregates.get_json()
    assert asked[-1] == ("border_movements", {"year": 2024}, ("direction",))
    rows = {r.get("direction"): r for r in aggregates.get_json()["rows"]}
    assert rows["ENTRY"]["value"] is None and rows["ENTRY"]["flag"]  # 3 persons: suppressed for aggregates
    bad = client.get("/api/v1/indicators/border_movements?colour=red", headers=bearer(tokens["mi.analyst"]))
    assert bad.status_code == 400
    assert client.get("/api/v1/indicators/nothing", headers=bearer(tokens["mi.analyst"])).status_code == 404


def test_every_route_asks_the_policy(client, portal_engine, tokens, submissions):
    """A token of an account whose institution the policies do not know: `decide` refuses it
    everything, so any route answering 2xx would be one that never asked."""
    from portal.api.routes import ROUTES

    with db.session(portal_engine) as s:
        s.add(Account(username="ghost", password_hash="-", institution="NOWHERE", roles="admin onm_analyst"))
        s.commit()
        token = api_tokens.issue(s, "ghost")[0]
    args = {"submission_id": submissions["paf"], "code": "border_crossings"}
    for route in ROUTES:
        if route.public:
            continue
        url = "/api/v1" + route.path.format(**{p.name: args.get(p.name, "border_movements")
                                              for p in route.params if p.where == "path"})
        if route.path.startswith("/indicators/"):
            url = "/api/v1/indicators/border_movements"
        data = {"dataset": "border_crossings", "file": (io.BytesIO(valid_crossings()), "f.csv")} \
            if route.endpoint == "create_submission" else None
        answer = client.open(url, method=route.method, headers=bearer(token), data=data,
                             content_type="multipart/form-data" if data else None)
        assert answer.status_code in (403, 404), (route.endpoint, url, answer.status_code)


# --- reads are audited -------------------------------------------------------------------------------

def test_a_microdata_level_read_through_the_api_is_audited(client, tokens, accepted_crossings, portal_engine):
    """The ONM analyst reads border movements unprotected (pseudonymised microdata level): who, which
    dataset, which filters and breakdown. A protected read (aggregates) is not a microdata read."""
    from services.models import AuditEntry

    def reads():
        with db.session(portal_engine) as s:
            return list(s.exec(select(AuditEntry).where(AuditEntry.action == "microdata.read")))

    aggregates = client.get("/api/v1/indicators/border_movements?by=sex&year=2024", headers=bearer(tokens["mi.analyst"]))
    assert aggregates.status_code == 200 and aggregates.get_json()["level"] == "aggregates"
    assert reads() == []
    answer = client.get("/api/v1/indicators/border_movements?by=sex,direction&year=2024&nationality=TUN",
                        headers=bearer(tokens["onm.onm_analyst"]))
    assert answer.status_code == 200 and answer.get_json()["level"] == "pseudonymised_microdata"
    [entry] = reads()
    assert (entry.actor, entry.institution, entry.target) == ("onm.onm_analyst", "ONM", "indicator:border_movements")
    assert entry.details["via"] == "api" and entry.details["dataset"] == "border_crossings"
    assert entry.details["indicator"] == "border_movements" and entry.details["by"] == ["sex", "direction"]
    assert entry.details["filters"] == {"year": 2024, "nationality": "TUN"}


def test_a_validation_report_read_through_the_api_is_audited(client, tokens, portal_engine):
    """The report quotes the rows' values: its read is a microdata read, with who, which submission, format."""
    from services.models import AuditEntry

    bad = upload(client, tokens["mi-paf.submitter"], valid_crossings(2, start=70) + b"E9,not-a-date\r\n")
    bad_id = bad.get_json()["submission"]["id"]
    with db.session(portal_engine) as s:
        assert not list(s.exec(select(AuditEntry).where(AuditEntry.action == "microdata.report")))
    report = client.get(f"/api/v1/submissions/{bad_id}/report?lang=ar", headers=bearer(tokens["mi-paf.submitter"]))
    assert report.status_code == 200
    with db.session(portal_engine) as s:
        [entry] = s.exec(select(AuditEntry).where(AuditEntry.action == "microdata.report"))
    assert (entry.actor, entry.target) == ("mi-paf.submitter", f"submission:{bad_id}")
    assert entry.details["via"] == "api" and entry.details["language"] == "ar" and entry.details["lines"] >= 1
