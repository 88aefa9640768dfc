"""`marsad identity sync` against the session's real Keycloak (tests/keycloak_server.py).

Each test works in a realm of its own (marsad-test-<random>) and deletes it afterwards.
"""
from __future__ import annotations

import json
import secrets

import pytest
from click.testing import CliRunner

from services.cli import main
from services.identity.plan import plan
from services.identity.realm import BROWSER_FLOW, RealmSettings, desired_realm, realm_representation
from services.policy import load_policies

PORTAL_URL = "https://marsad.example.tn"


@pytest.fixture
def realm_name(keycloak, monkeypatch):
    name = f"marsad-test-{secrets.token_hex(4)}"
    for key, value in {**keycloak.environ(), "MARSAD_KEYCLOAK_REALM": name, "MARSAD_PORTAL_URLS": PORTAL_URL}.items():
        monkeypatch.setenv(key, value)
    return name


@pytest.fixture
def admin(realm_name):
    from services.identity import keycloak_sync

    admin = keycloak_sync.connect(realm_name)
    yield admin
    admin.change_current_realm("master")
    if any(r["realm"] == realm_name for r in admin.get_realms()):
        admin.delete_realm(realm_name)


@pytest.fixture
def desired(realm_name):
    return desired_realm(load_policies(), RealmSettings(realm=realm_name, portal_urls=(PORTAL_URL,)))


def marsad(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["identity", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def planned(realm: str) -> set[tuple[str, str, str]]:
    return {(a["op"], a["kind"], a["name"]) for a in json.loads(marsad("plan", "--json"))}


def test_first_sync_creates_everything_and_a_second_does_nothing(admin, desired, realm_name):
    from services.identity import keycloak_sync

    out = marsad("sync")
    fresh = plan(desired, None)
    assert f"applied {len(fresh)} action(s); the realm is in sync" in out
    state = keycloak_sync.read_state(admin, realm_name)
    assert set(state.groups) >= set(desired.groups)        # every level, units included
    assert "/institutions/MI/MI-PAF" in state.groups
    assert set(state.roles) >= set(desired.roles) and set(state.clients) >= set(desired.clients)
    assert state.settings["browserFlow"] == BROWSER_FLOW
    assert state.clients["marsad-portal"]["attributes"]["pkce.code.challenge.method"] == "S256"
    assert state.roles["admin"]["composites"] == {"realm": ["marsad-otp-required"]}

    assert planned(realm_name) == set()
    assert marsad("sync").strip() == "the realm is as policies/ describe it: nothing to do"


def test_drift_through_the_admin_api_is_planned_and_repaired_and_a_foreign_client_survives(admin, realm_name):
    marsad("sync")
    admin.delete_realm_role("analyst")
    portal = admin.get_client_id("marsad-portal")
    groups_mapper = next(m for m in admin.get_mappers_from_client(portal) if m["name"] == "marsad-groups")
    admin.update_client_mapper(portal, groups_mapper["id"],
                               {**groups_mapper, "config": {**groups_mapper["config"], "full.path": "false"}})
    admin.create_client({"clientId": "grafana", "publicClient": True, "redirectUris": ["https://grafana.example/*"]})
    grafana_before = admin.get_client(admin.get_client_id("grafana"))
    # The OTP step switched off in the bound login flow: replaced while bound.
    otp = next(e for e in admin.get_authentication_flow_executions(BROWSER_FLOW) if e.get("providerId") == "auth-otp-form")
    admin.update_authentication_flow_executions({"id": otp["id"], "requirement": "DISABLED"}, BROWSER_FLOW)

    assert planned(realm_name) == {("create", "role", "analyst"),
                                   ("replace", "mapper", "marsad-portal marsad-groups"),
                                   ("replace", "flow", BROWSER_FLOW)}
    out = marsad("sync")
    assert "applied 3 action(s); the realm is in sync" in out
    assert planned(realm_name) == set()

    assert admin.get_realm_role("analyst")["attributes"] == {"marsad.managed": ["true"]}
    mapper = next(m for m in admin.get_mappers_from_client(portal) if m["name"] == "marsad-groups")
    assert mapper["config"]["full.path"] == "true"
    assert admin.get_client(admin.get_client_id("grafana")) == grafana_before
    assert admin.get_realm(realm_name)["browserFlow"] == BROWSER_FLOW


def test_an_api_client_token_becomes_its_institutions_principal(keycloak, admin, desired, realm_name):
    from keycloak import KeycloakOpenID

    from services.identity import keycloak_sync
    from services.identity.claims import principal_from_claims

    marsad("sync")
    client_id = "marsad-api-mi-paf"
    secret = keycloak_sync.client_secret(admin, client_id)
    oidc = KeycloakOpenID(server_url=keycloak.url + "/", realm_name=realm_name,
                          client_id=client_id, client_secret_key=secret)
    token = oidc.token(grant_type="client_credentials")
    claims = oidc.decode_token(token["access_token"])   # checked against the realm's published keys
    assert "marsad-portal" in (claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]])
    principal = principal_from_claims(claims, load_policies())
    assert principal.institution == "MI-PAF" and principal.roles == {"submitter"}


def test_the_export_imports_and_sync_then_adds_only_the_otp_flow(admin, desired, realm_name):
    admin.change_current_realm("master")
    admin.create_realm(realm_representation(desired))       # what kc.sh import does with the file
    admin.change_current_realm(realm_name)
    assert planned(realm_name) == {("create", "flow", BROWSER_FLOW), ("update", "realm", realm_name)}
    marsad("sync")
    assert planned(realm_name) == set()
