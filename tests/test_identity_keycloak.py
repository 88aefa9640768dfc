"""`marsad identity sync` against a REAL Keycloak: runs only when KEYCLOAK_URL is set.

    KEYCLOAK_URL=http://127.0.0.1:8080 KEYCLOAK_ADMIN_USER=admin KEYCLOAK_ADMIN_PASSWORD=... \\
        pytest tests/test_identity_keycloak.py

Each test works in a realm of its own (marsad-test-<random>) and deletes it afterwards; the
realm named by MARSAD_KEYCLOAK_REALM is never touched.
"""
from __future__ import annotations

import os
import secrets

import pytest

from services.identity.plan import plan
from services.identity.realm import BROWSER_FLOW, RealmSettings, desired_realm, realm_representation
from services.policy import load_policies

pytestmark = pytest.mark.skipif(
    not os.environ.get("KEYCLOAK_URL"),
    reason="no Keycloak here: set KEYCLOAK_URL (and KEYCLOAK_ADMIN_USER/PASSWORD)",
)


@pytest.fixture
def realm_name():
    return f"marsad-test-{secrets.token_hex(4)}"


@pytest.fixture
def admin(realm_name):
    from services.identity import keycloak_sync

    admin = keycloak_sync.connect(realm_name)
    yield admin
    admin.change_current_realm(os.environ.get("KEYCLOAK_ADMIN_REALM", "master"))
    if any(r["realm"] == realm_name for r in admin.get_realms()):
        admin.delete_realm(realm_name)


@pytest.fixture
def desired(realm_name):
    return desired_realm(load_policies(), RealmSettings(realm=realm_name, portal_urls=("https://marsad.example.tn",)))


def _sync(admin, desired):
    from services.identity import keycloak_sync

    realm = desired.settings["realm"]
    actions = plan(desired, keycloak_sync.read_state(admin, realm))
    keycloak_sync.apply(admin, realm, actions)
    return actions


def test_sync_builds_the_realm_and_a_second_sync_changes_nothing(admin, desired):
    from services.identity import keycloak_sync

    first = _sync(admin, desired)
    assert first[0].op == "create" and first[0].kind == "realm"
    state = keycloak_sync.read_state(admin, desired.settings["realm"])
    assert plan(desired, state) == []
    assert state.settings["browserFlow"] == BROWSER_FLOW
    assert state.clients["marsad-portal"]["attributes"]["pkce.code.challenge.method"] == "S256"
    assert "/institutions/MI/MI-PAF" in state.groups
    assert state.roles["admin"]["composites"] == {"realm": ["marsad-otp-required"]}
    assert _sync(admin, desired) == []


def test_drift_is_repaired_and_foreign_objects_survive(admin, desired):
    from services.identity import keycloak_sync

    _sync(admin, desired)
    admin.create_group({"name": "helpdesk"})
    admin.create_client({"clientId": "grafana", "publicClient": True})
    uuid = admin.get_client_id("marsad-portal")
    client = admin.get_client(uuid)
    admin.update_client(uuid, {**client, "redirectUris": ["https://evil.example/*"]})
    admin.update_realm(desired.settings["realm"], {"passwordPolicy": "length(6)"})

    actions = _sync(admin, desired)
    assert {(a.kind, a.name) for a in actions} == {("client", "marsad-portal"), ("realm", desired.settings["realm"])}
    state = keycloak_sync.read_state(admin, desired.settings["realm"])
    assert plan(desired, state) == []
    assert "/helpdesk" in state.groups and "grafana" in state.clients


def test_an_api_client_token_becomes_its_institutions_principal(admin, desired):
    from keycloak import KeycloakOpenID

    from services.identity import keycloak_sync
    from services.identity.claims import principal_from_claims

    _sync(admin, desired)
    client_id = "marsad-api-mi-paf"
    secret = keycloak_sync.client_secret(admin, client_id)
    oidc = KeycloakOpenID(server_url=os.environ["KEYCLOAK_URL"].rstrip("/") + "/",
                          realm_name=desired.settings["realm"], client_id=client_id, client_secret_key=secret)
    token = oidc.token(grant_type="client_credentials")
    claims = oidc.decode_token(token["access_token"])
    assert "marsad-portal" in (claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]])
    principal = principal_from_claims(claims, load_policies())
    assert principal.institution == "MI-PAF" and principal.roles == {"submitter"}


def test_the_export_imports_and_sync_then_adds_only_the_otp_flow(admin, desired):
    from services.identity import keycloak_sync

    admin.change_current_realm(os.environ.get("KEYCLOAK_ADMIN_REALM", "master"))
    admin.create_realm(realm_representation(desired))       # what kc.sh import does with the file
    admin.change_current_realm(desired.settings["realm"])
    actions = plan(desired, keycloak_sync.read_state(admin, desired.settings["realm"]))
    assert [(a.op, a.kind) for a in actions] == [("create", "flow"), ("update", "realm")]
    keycloak_sync.apply(admin, desired.settings["realm"], actions)
    assert plan(desired, keycloak_sync.read_state(admin, desired.settings["realm"])) == []
