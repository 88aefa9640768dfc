"""The desired Keycloak realm compiled from policies/, and its export for `kc.sh import`."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services.cli import main
from services.identity.claims import INSTITUTIONS_GROUP, group_path, principal_from_claims
from services.identity.realm import (
    BROWSER_FLOW, EXPORT_OMITS, MANAGED_ATTRIBUTE, OTP_ROLE, RealmSettings, api_client_id, api_client_role,
    desired_realm, format_password_policy, is_managed, merged_password_policy, parse_password_policy,
    realm_representation, state_from_representation,
)
from services.policy import load_policies


@pytest.fixture(scope="module")
def policies():
    return load_policies()


@pytest.fixture(scope="module")
def desired(policies):
    return desired_realm(policies, RealmSettings(portal_urls=("https://marsad.example.tn", "http://localhost:5000")))


# --- what the mappers put in tokens, as Keycloak's mapper types document it ---------------------------

def token_claims(client: dict, *, username: str, groups=(), roles=()) -> dict:
    """The claims the client's protocol mappers give an access token (a model of each mapper type)."""
    claims: dict = {"preferred_username": username}
    for mapper in client["protocolMappers"]:
        kind, config = mapper["protocolMapper"], mapper["config"]
        if kind == "oidc-group-membership-mapper":
            full = config.get("full.path") == "true"
            claims[config["claim.name"]] = [g if full else g.rsplit("/", 1)[-1] for g in groups]
        elif kind == "oidc-usermodel-realm-role-mapper":
            assert config["claim.name"] == "realm_access.roles"
            claims.setdefault("realm_access", {}).setdefault("roles", [])
            claims["realm_access"]["roles"] = sorted(set(claims["realm_access"]["roles"]) | set(roles))
        elif kind == "oidc-hardcoded-role-mapper":
            claims.setdefault("realm_access", {}).setdefault("roles", [])
            claims["realm_access"]["roles"] = sorted(set(claims["realm_access"]["roles"]) | {config["role"]})
        elif kind == "oidc-hardcoded-claim-mapper":
            claims[config["claim.name"]] = config["claim.value"]
        elif kind == "oidc-audience-mapper":
            claims["aud"] = config["included.client.audience"]
    return claims


def test_a_portal_user_becomes_the_principal_claims_expects(policies, desired):
    portal = desired.clients["marsad-portal"]
    for code in policies.institutions:
        path = group_path(policies, code)
        assert path in desired.groups, code
        role = sorted(policies.roles_allowed(code))[0]
        claims = token_claims(portal, username="amira", groups=[path], roles=[role, "offline_access"])
        principal = principal_from_claims(claims, policies)
        assert principal.institution == code
        assert principal.roles == frozenset({role})


def test_an_api_client_token_names_its_institution_a_role_and_the_portal_audience(policies, desired):
    for code in policies.agreements:
        client = desired.clients[api_client_id(RealmSettings(), code)]
        assert client["serviceAccountsEnabled"] is True and client["standardFlowEnabled"] is False
        claims = token_claims(client, username=f"service-account-{client['clientId']}")
        assert claims["aud"] == "marsad-portal"
        principal = principal_from_claims(claims, policies)
        assert principal.institution == code
        assert principal.roles == {api_client_role(policies, code)}
        assert api_client_role(policies, code) in policies.roles_allowed(code)


def test_api_client_roles_prefer_submitting_then_reading(policies):
    assert api_client_role(policies, "MI-PAF") == "submitter"
    assert api_client_role(policies, "INS") == "analyst"
    assert api_client_role(policies, "ONM") == "onm_analyst"


def test_groups_are_the_claims_convention_with_units_under_their_institution(policies, desired):
    expected = {f"/{INSTITUTIONS_GROUP}"} | {group_path(policies, code) for code in policies.institutions}
    assert set(desired.groups) == expected
    assert "/institutions/MI/MI-PAF" in desired.groups
    assert desired.groups["/institutions/MI"]["attributes"]["marsad.name.ar"] == ["وزارة الداخلية"]


def test_one_realm_role_per_policy_role_plus_the_otp_marker(policies, desired):
    assert set(desired.roles) == set(policies.roles) | {OTP_ROLE}
    for code in ("admin", "focal_point"):
        assert desired.roles[code]["composites"] == {"realm": [OTP_ROLE]}
    assert "composites" not in desired.roles["submitter"]


def test_realm_security_settings(desired):
    s = desired.settings
    policy = parse_password_policy(s["passwordPolicy"])
    assert int(policy["length"]) >= 12
    assert {"digits", "upperCase", "lowerCase", "notUsername", "passwordHistory"} <= set(policy)
    assert s["bruteForceProtected"] is True and s["failureFactor"] > 0 and s["waitIncrementSeconds"] > 0
    assert 0 < s["ssoSessionIdleTimeout"] <= s["ssoSessionMaxLifespan"]
    assert s["browserFlow"] == BROWSER_FLOW


def test_portal_client_is_confidential_with_pkce_and_configured_redirects(desired):
    portal = desired.clients["marsad-portal"]
    assert portal["publicClient"] is False and portal["standardFlowEnabled"] is True
    assert portal["implicitFlowEnabled"] is False and portal["directAccessGrantsEnabled"] is False
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    assert portal["redirectUris"] == ["http://localhost:5000/login/keycloak/callback",
                                      "https://marsad.example.tn/login/keycloak/callback"]


def test_the_otp_flow_asks_holders_of_the_otp_role_and_no_one_twice(desired):
    steps = desired.flows[BROWSER_FLOW]["executions"]
    otp_forms = [i for i, s in enumerate(steps) if s["name"] == "auth-otp-form"]
    assert len(otp_forms) == 2
    conditions = [s["config"]["config"] for s in steps if s["name"] == "conditional-user-role"]
    assert conditions == [{"condUserRole": OTP_ROLE}, {"condUserRole": OTP_ROLE, "negate": "true"}]
    assert is_managed("flow", desired.flows[BROWSER_FLOW])


def test_no_otp_roles_means_keycloaks_own_browser_flow(policies):
    plain = desired_realm(policies, RealmSettings(otp_roles=()))
    assert plain.flows == {} and OTP_ROLE not in plain.roles and plain.settings["browserFlow"] == "browser"


def test_everything_carries_the_marker(desired):
    for kind, objects in (("role", desired.roles), ("group", desired.groups), ("client", desired.clients)):
        for name, rep in objects.items():
            assert is_managed(kind, rep), (kind, name)
    for client in desired.clients.values():
        assert all(is_managed("mapper", m) for m in client["protocolMappers"])
    assert desired.roles["admin"]["attributes"][MANAGED_ATTRIBUTE] == ["true"]


def test_settings_from_the_environment():
    s = RealmSettings.from_env({"MARSAD_KEYCLOAK_REALM": "onm", "MARSAD_PORTAL_URLS": "https://a.tn/, https://b.tn",
                                "MARSAD_OIDC_CLIENT_ID": "portal", "MARSAD_KEYCLOAK_SESSION_IDLE": "600"})
    assert (s.realm, s.portal_client_id, s.portal_urls, s.sso_session_idle_seconds) == \
        ("onm", "portal", ("https://a.tn", "https://b.tn"), 600)
    assert RealmSettings.from_env({}) == RealmSettings()


def test_password_policy_text_round_trips_and_merges():
    text = "length(12) and notUsername(undefined) and digits(1)"
    assert format_password_policy(parse_password_policy(text)) == text
    assert parse_password_policy("notUsername") == {"notUsername": None}
    ours = {"length": "12", "digits": "1"}
    merged = merged_password_policy(ours, "length(8) and specialChars(1)")
    assert parse_password_policy(merged) == {"length": "12", "digits": "1", "specialChars": "1"}


# --- the export --------------------------------------------------------------------------------------
# Field names of Keycloak's representations (org.keycloak.representations.idm), as its Admin REST API
# documents them; the export may use only these.

REALM_FIELDS = {
    "id", "realm", "displayName", "displayNameHtml", "notBefore", "defaultSignatureAlgorithm",
    "revokeRefreshToken", "refreshTokenMaxReuse", "accessTokenLifespan", "accessTokenLifespanForImplicitFlow",
    "ssoSessionIdleTimeout", "ssoSessionMaxLifespan", "ssoSessionIdleTimeoutRememberMe",
    "ssoSessionMaxLifespanRememberMe", "offlineSessionIdleTimeout", "offlineSessionMaxLifespanEnabled",
    "offlineSessionMaxLifespan", "clientSessionIdleTimeout", "clientSessionMaxLifespan",
    "accessCodeLifespan", "accessCodeLifespanUserAction", "accessCodeLifespanLogin", "enabled", "sslRequired",
    "registrationAllowed", "registrationEmailAsUsername", "rememberMe", "verifyEmail", "loginWithEmailAllowed",
    "duplicateEmailsAllowed", "resetPasswordAllowed", "editUsernameAllowed", "bruteForceProtected",
    "permanentLockout", "maxTemporaryLockouts", "maxFailureWaitSeconds", "minimumQuickLoginWaitSeconds",
    "waitIncrementSeconds", "quickLoginCheckMilliSeconds", "maxDeltaTimeSeconds", "failureFactor", "roles",
    "groups", "defaultRole", "defaultGroups", "requiredCredentials", "passwordPolicy", "otpPolicyType",
    "otpPolicyAlgorithm", "otpPolicyInitialCounter", "otpPolicyDigits", "otpPolicyLookAheadWindow",
    "otpPolicyPeriod", "users", "clients", "clientScopes", "defaultDefaultClientScopes",
    "defaultOptionalClientScopes", "browserSecurityHeaders", "smtpServer", "loginTheme", "accountTheme",
    "adminTheme", "emailTheme", "eventsEnabled", "eventsExpiration", "eventsListeners", "enabledEventTypes",
    "adminEventsEnabled", "adminEventsDetailsEnabled", "identityProviders", "identityProviderMappers",
    "protocolMappers", "components", "internationalizationEnabled", "supportedLocales", "defaultLocale",
    "authenticationFlows", "authenticatorConfig", "requiredActions", "browserFlow", "registrationFlow",
    "directGrantFlow", "resetCredentialsFlow", "clientAuthenticationFlow", "dockerAuthenticationFlow",
    "firstBrokerLoginFlow", "attributes", "userManagedAccessAllowed", "organizationsEnabled",
}
ROLES_FIELDS = {"realm", "client"}
ROLE_FIELDS = {"id", "name", "description", "scopeParamRequired", "composite", "composites", "clientRole",
               "containerId", "attributes"}
COMPOSITES_FIELDS = {"realm", "client"}
GROUP_FIELDS = {"id", "name", "description", "path", "parentId", "subGroupCount", "subGroups", "attributes",
                "realmRoles", "clientRoles", "access"}
CLIENT_FIELDS = {
    "id", "clientId", "name", "description", "type", "rootUrl", "adminUrl", "baseUrl", "surrogateAuthRequired",
    "enabled", "alwaysDisplayInConsole", "clientAuthenticatorType", "secret", "registrationAccessToken",
    "redirectUris", "webOrigins", "notBefore", "bearerOnly", "consentRequired", "standardFlowEnabled",
    "implicitFlowEnabled", "directAccessGrantsEnabled", "serviceAccountsEnabled",
    "authorizationServicesEnabled", "publicClient", "frontchannelLogout", "protocol", "attributes",
    "authenticationFlowBindingOverrides", "fullScopeAllowed", "nodeReRegistrationTimeout",
    "registeredNodes", "protocolMappers", "defaultClientScopes", "optionalClientScopes",
    "authorizationSettings", "access", "origin",
}
PROTOCOL_MAPPER_FIELDS = {"id", "name", "protocol", "protocolMapper", "consentRequired", "config"}


@pytest.fixture(scope="module")
def exported(desired):
    # Through JSON, as kc.sh reads it.
    return json.loads(json.dumps(realm_representation(desired), ensure_ascii=False))


def test_export_uses_only_keycloak_realm_fields(exported):
    assert set(exported) <= REALM_FIELDS, set(exported) - REALM_FIELDS
    for key in ("realm", "enabled", "passwordPolicy", "bruteForceProtected", "failureFactor",
                "waitIncrementSeconds", "ssoSessionIdleTimeout", "ssoSessionMaxLifespan", "roles", "groups",
                "clients"):
        assert key in exported, key
    assert exported["realm"] == "marsad" and exported["enabled"] is True
    # Keycloak's import takes these lists as the whole set (and would drop its built-in flows and
    # required actions), so the export leaves them to Keycloak and sync adds the OTP flow.
    assert not set(EXPORT_OMITS) & set(exported)


def test_export_roles(exported, policies):
    assert set(exported["roles"]) <= ROLES_FIELDS
    names = set()
    for role in exported["roles"]["realm"]:
        assert set(role) <= ROLE_FIELDS, set(role) - ROLE_FIELDS
        assert isinstance(role["attributes"][MANAGED_ATTRIBUTE], list)
        if role.get("composites"):
            assert role["composite"] is True and set(role["composites"]) <= COMPOSITES_FIELDS
        names.add(role["name"])
    assert names == set(policies.roles) | {OTP_ROLE}


def test_export_groups_nest_subgroups(exported, policies):
    def walk(groups, parent):
        for group in groups:
            assert set(group) <= GROUP_FIELDS, set(group) - GROUP_FIELDS
            assert group["path"] == f"{parent}/{group['name']}"
            yield group["path"]
            yield from walk(group["subGroups"], group["path"])

    assert [g["name"] for g in exported["groups"]] == [INSTITUTIONS_GROUP]
    paths = set(walk(exported["groups"], ""))
    assert paths == {f"/{INSTITUTIONS_GROUP}"} | {group_path(policies, c) for c in policies.institutions}


def test_export_clients_and_mappers(exported):
    for client in exported["clients"]:
        assert set(client) <= CLIENT_FIELDS, set(client) - CLIENT_FIELDS
        assert "secret" not in client      # Keycloak generates it on import
        assert all(isinstance(v, str) for v in client["attributes"].values())  # client attributes are strings
        for mapper in client["protocolMappers"]:
            assert set(mapper) <= PROTOCOL_MAPPER_FIELDS
            assert all(isinstance(v, str) for v in mapper["config"].values())
    portal = next(c for c in exported["clients"] if c["clientId"] == "marsad-portal")
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"


def test_export_read_back_plans_only_the_otp_flow(desired, exported):
    from services.identity.plan import plan

    actions = plan(desired, state_from_representation(exported))
    assert [(a.op, a.kind, a.name) for a in actions] == [("create", "flow", BROWSER_FLOW),
                                                        ("update", "realm", "marsad")]
    assert actions[1].changes == {"browserFlow": BROWSER_FLOW}


def test_cli_export_and_plan(tmp_path):
    runner = CliRunner()
    out = tmp_path / "realm.json"
    result = runner.invoke(main, ["identity", "export", "-o", str(out)], env={"KEYCLOAK_URL": ""})
    assert result.exit_code == 0, result.output
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert rep["realm"] == "marsad"
    result = runner.invoke(main, ["identity", "plan", "--current", str(out)], env={"KEYCLOAK_URL": ""})
    assert result.exit_code == 0, result.output
    assert "+ flow marsad browser" in result.output
    result = runner.invoke(main, ["identity", "plan", "--json"], env={"KEYCLOAK_URL": ""})
    assert result.exit_code == 0, result.output
    actions = json.loads(result.stdout)
    assert actions[0] == {"op": "create", "kind": "realm", "name": "marsad", "payload": actions[0]["payload"]}
