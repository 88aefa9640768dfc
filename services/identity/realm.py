"""The Keycloak realm Marsad wants, compiled from policies/ and a few deployment settings.

Pure: `desired_realm(policies, settings)` reads only its arguments and returns a `RealmState`, the
same shape `keycloak_sync.read_state` gives for a live realm, so that `plan.plan` compares like
with like. `realm_representation` turns it into Keycloak's realm JSON for `kc.sh import`.

What the realm holds, and why:

* Groups follow services.identity.claims exactly: a top-level group ``institutions``, one subgroup
  per institution, units below their institution (``/institutions/MI/MI-PAF``).
* One realm role per role of policies/roles.yaml, named by its code (claims reads
  ``realm_access.roles``), plus ``marsad-otp-required`` (see OTP below). Role codes cannot
  contain "-", so that helper role never collides with a policy role.
* The portal client: confidential, authorization code only, PKCE S256 required, redirect URIs
  from the deployment settings; mappers put full group paths in ``groups`` and realm roles in
  ``realm_access.roles``. No user-attribute ``institution`` mapper: claims.py requires such an
  attribute be editable by admins only, and groups already say it.
* One API client per institution and unit (client credentials, service account): hardcoded
  mappers give its tokens ``institution`` = its code and one realm role (`api_client_role`), an
  audience mapper names the portal client (what portal/api/bearer.py checks). Everything lives on
  the client, so nothing depends on the service-account user's memberships.
* OTP: a copy of Keycloak's browser flow ("marsad browser") whose conditional subflow asks for
  an OTP when the user holds ``marsad-otp-required``. The roles of `RealmSettings.otp_roles`
  (admin, focal_point) are composites containing it, so holding either one is enough, and
  Keycloak's OTP form sends a user without an OTP device to set one up (CONFIGURE_TOTP) at the
  next login. A second conditional subflow keeps Keycloak's default: anyone else who set up
  an OTP is asked for it. A per-user CONFIGURE_TOTP required action was not chosen: it is set
  once, a user can later remove the device, and accounts created between two syncs escape it.
* Marker: everything Marsad creates carries ``marsad.managed`` = "true" — an attribute on roles,
  groups and clients (all three have attributes in Keycloak), a description prefix on the flow
  (flows have no attributes), a name prefix ``marsad-`` on protocol mappers of managed clients.
  The plan never updates nor deletes an object without it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from services.config import IdentityEnv, section
from services.languages import LANGUAGES
from services.policy import Policies

MANAGED_ATTRIBUTE = "marsad.managed"
MANAGED_FLOW_PREFIX = "[marsad.managed]"
MAPPER_PREFIX = "marsad-"
OTP_ROLE = "marsad-otp-required"
BROWSER_FLOW = "marsad browser"
KEYCLOAK_BROWSER_FLOW = "browser"     # Keycloak's own, bound again if Marsad's flow goes away
API_CLIENT_ROLES = ("submitter", "analyst", "onm_analyst")   # first one the agreement allows
OIDC = "openid-connect"


@dataclass(frozen=True)
class RealmSettings:
    """Deployment settings of the realm (not policy: the same policies serve every deployment)."""

    realm: str = "marsad"
    portal_client_id: str = "marsad-portal"
    portal_urls: tuple[str, ...] = ("http://localhost:5000",)
    api_client_prefix: str = "marsad-api-"
    # Password policy: Keycloak policy name -> value (None for policies without a value).
    password_policy: tuple[tuple[str, Any], ...] = (
        ("length", 12), ("digits", 1), ("upperCase", 1), ("lowerCase", 1),
        ("notUsername", None), ("passwordHistory", 5),
    )
    # Brute-force detection: lock after `failure_factor` failures, waiting `wait_increment`
    # seconds more each time, at most `max_failure_wait`.
    failure_factor: int = 5
    wait_increment_seconds: int = 60
    max_failure_wait_seconds: int = 900
    quick_login_check_ms: int = 1000
    minimum_quick_login_wait_seconds: int = 60
    max_delta_time_seconds: int = 43200
    sso_session_idle_seconds: int = 1800          # 30 min idle
    sso_session_max_seconds: int = 36000          # 10 h, a working day
    access_token_seconds: int = 300
    otp_roles: tuple[str, ...] = ("admin", "focal_point")
    locales: tuple[str, ...] = LANGUAGES
    default_locale: str = "fr"

    @classmethod
    def from_env(cls, environ=None) -> RealmSettings:
        """MARSAD_KEYCLOAK_REALM, MARSAD_OIDC_CLIENT_ID (as the portal reads it), MARSAD_PORTAL_URLS
        (comma-separated base URLs of the portal), MARSAD_KEYCLOAK_SESSION_IDLE/_MAX (seconds)."""
        env = section(IdentityEnv, environ)
        base = cls()
        urls = tuple(u.strip().rstrip("/") for u in env.portal_urls.split(",") if u.strip())
        return cls(
            realm=env.keycloak_realm or base.realm,
            portal_client_id=env.oidc_client_id or base.portal_client_id,
            portal_urls=urls or base.portal_urls,
            sso_session_idle_seconds=(base.sso_session_idle_seconds if env.keycloak_session_idle is None
                                      else env.keycloak_session_idle),
            sso_session_max_seconds=(base.sso_session_max_seconds if env.keycloak_session_max is None
                                     else env.keycloak_session_max),
        )


@dataclass
class RealmState:
    """A realm as the plan sees it, desired or current, in Keycloak's representation shapes.

    settings: top-level RealmRepresentation fields; roles: name -> RoleRepresentation;
    groups: full path -> GroupRepresentation without subGroups; clients: clientId ->
    ClientRepresentation with protocolMappers; flows: alias -> {"alias", "description",
    "executions": [{"level", "kind" ("execution" | "flow"), "name" (provider id or subflow alias),
    "requirement", "config" (dict or None)}, ...]} in Keycloak's display order.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, dict] = field(default_factory=dict)
    groups: dict[str, dict] = field(default_factory=dict)
    clients: dict[str, dict] = field(default_factory=dict)
    flows: dict[str, dict] = field(default_factory=dict)

    def copy(self) -> RealmState:
        return copy.deepcopy(self)


# --- markers ---------------------------------------------------------------------------------

def _attribute_values(attributes: Any, key: str) -> list:
    value = (attributes or {}).get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def is_managed(kind: str, rep: dict) -> bool:
    """Whether Marsad created this object (the only ones it may change or delete)."""
    if kind == "flow":
        return str(rep.get("description") or "").startswith(MANAGED_FLOW_PREFIX)
    if kind == "mapper":
        return str(rep.get("name") or "").startswith(MAPPER_PREFIX)
    return "true" in _attribute_values(rep.get("attributes"), MANAGED_ATTRIBUTE)


# --- password policy -------------------------------------------------------------------------

def parse_password_policy(text: str | None) -> dict[str, str | None]:
    """Keycloak's "length(12) and notUsername(undefined)" -> {"length": "12", "notUsername": None}."""
    out: dict[str, str | None] = {}
    for part in (text or "").split(" and "):
        part = part.strip()
        if not part:
            continue
        name, _, rest = part.partition("(")
        value = rest[:-1] if rest.endswith(")") else (rest or None)
        out[name.strip()] = None if value in (None, "", "undefined") else value
    return out


def format_password_policy(entries: dict[str, str | None]) -> str:
    return " and ".join(f"{name}({'undefined' if value is None else value})" for name, value in entries.items())


def merged_password_policy(ours: dict[str, str | None], current: str | None) -> str:
    """Ours with our values, then whatever else the realm's administrators added (kept: a
    stricter rule they chose, e.g. specialChars, is not Marsad's to remove)."""
    merged = dict(ours)
    for name, value in parse_password_policy(current).items():
        merged.setdefault(name, value)
    return format_password_policy(merged)


# --- building blocks -------------------------------------------------------------------------

def _marker_list() -> dict[str, list[str]]:
    return {MANAGED_ATTRIBUTE: ["true"]}


def _mapper(name: str, mapper_type: str, config: dict[str, str]) -> dict:
    return {"name": MAPPER_PREFIX + name, "protocol": OIDC, "protocolMapper": mapper_type, "config": config}


def _token_claims(access: bool = True, id_token: bool = False, userinfo: bool = False) -> dict[str, str]:
    flag = lambda b: "true" if b else "false"  # noqa: E731 - Keycloak wants strings
    return {"access.token.claim": flag(access), "id.token.claim": flag(id_token),
            "userinfo.token.claim": flag(userinfo), "introspection.token.claim": "true"}


def _roles_mapper() -> dict:
    # The default "roles" client scope does the same; declared here so tokens keep roles even if
    # an administrator edits the default scopes.
    return _mapper("realm-roles", "oidc-usermodel-realm-role-mapper",
                   {"claim.name": "realm_access.roles", "multivalued": "true", "jsonType.label": "String",
                    **_token_claims()})


def api_client_id(settings: RealmSettings, code: str) -> str:
    return settings.api_client_prefix + code.lower()


def api_client_role(policies: Policies, code: str) -> str | None:
    """The realm role an institution's API client acts with: the first of API_CLIENT_ROLES its
    agreement allows (submitting partners submit; others read; the observatory analyses)."""
    allowed = policies.roles_allowed(code)
    return next((r for r in API_CLIENT_ROLES if r in allowed and r in policies.roles), None)


def _portal_client(settings: RealmSettings) -> dict:
    urls = settings.portal_urls
    return {
        "clientId": settings.portal_client_id,
        "name": "Marsad portal",
        "description": "The Marsad web portal (OpenID Connect, authorization code with PKCE)",
        "enabled": True,
        "protocol": OIDC,
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "redirectUris": sorted(f"{u}/login/keycloak/callback" for u in urls),
        "webOrigins": [],
        "attributes": {
            MANAGED_ATTRIBUTE: "true",
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": "##".join(sorted(f"{u}/login" for u in urls)),
        },
        "protocolMappers": [
            _mapper("groups", "oidc-group-membership-mapper",
                    {"claim.name": "groups", "full.path": "true", **_token_claims(True, True, True)}),
            _roles_mapper(),
        ],
    }


def _api_client(policies: Policies, settings: RealmSettings, code: str) -> dict:
    institution = policies.institution(code)
    mappers = [
        _mapper("institution", "oidc-hardcoded-claim-mapper",
                {"claim.name": "institution", "claim.value": code, "jsonType.label": "String", **_token_claims()}),
        _mapper("audience", "oidc-audience-mapper",
                {"included.client.audience": settings.portal_client_id, "access.token.claim": "true",
                 "id.token.claim": "false", "introspection.token.claim": "true"}),
        _roles_mapper(),
    ]
    role = api_client_role(policies, code)
    if role:
        mappers.append(_mapper(f"role-{role}".replace("_", "-"), "oidc-hardcoded-role-mapper", {"role": role}))
    return {
        "clientId": api_client_id(settings, code),
        "name": f"Marsad API: {code}",
        "description": f"Machine access for {institution.name('en')} (client credentials)",
        "enabled": True,
        "protocol": OIDC,
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": True,
        "redirectUris": [],
        "webOrigins": [],
        "attributes": {MANAGED_ATTRIBUTE: "true", "marsad.institution": code},
        "protocolMappers": mappers,
    }


def _browser_flow() -> dict:
    def step(level, name, requirement, config=None):
        return {"level": level, "kind": "execution", "name": name, "requirement": requirement, "config": config}

    def sub(level, alias, requirement):
        return {"level": level, "kind": "flow", "name": alias, "requirement": requirement, "config": None}

    role = {"condUserRole": OTP_ROLE}
    return {
        "alias": BROWSER_FLOW,
        "description": f"{MANAGED_FLOW_PREFIX} browser login; OTP required for holders of {OTP_ROLE}",
        "executions": [
            step(0, "auth-cookie", "ALTERNATIVE"),
            sub(0, f"{BROWSER_FLOW} forms", "ALTERNATIVE"),
            step(1, "auth-username-password-form", "REQUIRED"),
            sub(1, f"{BROWSER_FLOW} otp by role", "CONDITIONAL"),
            step(2, "conditional-user-role", "REQUIRED", {"alias": "marsad otp by role", "config": role}),
            step(2, "auth-otp-form", "REQUIRED"),
            # The two conditional subflows exclude each other (negated role condition), so nobody is
            # asked for an OTP twice.
            sub(1, f"{BROWSER_FLOW} otp if configured", "CONDITIONAL"),
            step(2, "conditional-user-role", "REQUIRED",
                 {"alias": "marsad otp not by role", "config": {**role, "negate": "true"}}),
            step(2, "conditional-user-configured", "REQUIRED"),
            step(2, "auth-otp-form", "REQUIRED"),
        ],
    }


def _group_attributes(policies: Policies, code: str) -> dict[str, list[str]]:
    names = policies.institution(code).names
    return {**_marker_list(), **{f"marsad.name.{lang}": [names[lang]] for lang in LANGUAGES if lang in names}}


def desired_realm(policies: Policies, settings: RealmSettings | None = None) -> RealmState:
    """The realm that policies/ and the deployment settings call for."""
    from services.identity.claims import INSTITUTIONS_GROUP, group_path

    settings = settings or RealmSettings()
    otp_roles = [r for r in settings.otp_roles if r in policies.roles]
    observatory = policies.institutions.get(policies.settings.observatory)

    realm_settings: dict[str, Any] = {
        "realm": settings.realm,
        "enabled": True,
        "displayName": observatory.name("en") if observatory else "Marsad",
        "sslRequired": "external",
        "registrationAllowed": False,
        "editUsernameAllowed": False,
        "passwordPolicy": format_password_policy(
            {name: None if value is None else str(value) for name, value in settings.password_policy}),
        "bruteForceProtected": True,
        "permanentLockout": False,
        "failureFactor": settings.failure_factor,
        "waitIncrementSeconds": settings.wait_increment_seconds,
        "maxFailureWaitSeconds": settings.max_failure_wait_seconds,
        "quickLoginCheckMilliSeconds": settings.quick_login_check_ms,
        "minimumQuickLoginWaitSeconds": settings.minimum_quick_login_wait_seconds,
        "maxDeltaTimeSeconds": settings.max_delta_time_seconds,
        "ssoSessionIdleTimeout": settings.sso_session_idle_seconds,
        "ssoSessionMaxLifespan": settings.sso_session_max_seconds,
        "accessTokenLifespan": settings.access_token_seconds,
        "internationalizationEnabled": True,
        "supportedLocales": sorted(settings.locales),
        "defaultLocale": settings.default_locale,
        "browserFlow": BROWSER_FLOW if otp_roles else KEYCLOAK_BROWSER_FLOW,
    }

    roles: dict[str, dict] = {}
    if otp_roles:
        roles[OTP_ROLE] = {"name": OTP_ROLE, "description": "Marsad: an OTP is asked at every login",
                           "composite": False, "attributes": _marker_list()}
    for code, role in policies.roles.items():
        rep = {"name": code, "description": f"Marsad: {role.name('en')} (scope {role.scope})",
               "composite": code in otp_roles, "attributes": _marker_list()}
        if code in otp_roles:
            rep["composites"] = {"realm": [OTP_ROLE]}
        roles[code] = rep

    groups: dict[str, dict] = {
        f"/{INSTITUTIONS_GROUP}": {"name": INSTITUTIONS_GROUP, "path": f"/{INSTITUTIONS_GROUP}",
                                   "attributes": _marker_list()},
    }
    for institution in policies.top_level:
        for code in (institution.code, *(u.code for u in institution.units)):
            path = group_path(policies, code)
            groups[path] = {"name": code, "path": path, "attributes": _group_attributes(policies, code)}

    clients = {settings.portal_client_id: _portal_client(settings)}
    for code in policies.agreements:
        client = _api_client(policies, settings, code)
        clients[client["clientId"]] = client

    flows = {BROWSER_FLOW: _browser_flow()} if otp_roles else {}
    return RealmState(settings=realm_settings, roles=roles, groups=groups, clients=clients, flows=flows)


# --- export ----------------------------------------------------------------------------------

# Left out of the export on purpose: Keycloak's import takes a given `authenticationFlows` or
# `requiredActions` list as the WHOLE set and then lacks its built-in flows ("direct grant"...) and
# required actions (UPDATE_PASSWORD...). The OTP flow is therefore added by the first
# `marsad identity sync`, which plans it as a creation.
EXPORT_OMITS = ("authenticationFlows", "authenticatorConfig", "requiredActions", "browserFlow")


def realm_representation(desired: RealmState) -> dict:
    """Keycloak's RealmRepresentation of `desired`, for `kc.sh import --file`."""
    rep = {k: v for k, v in desired.settings.items() if k not in EXPORT_OMITS}

    def nested(parent: str) -> list[dict]:
        depth = parent.count("/") + 1
        children = []
        for path, group in sorted(desired.groups.items()):
            if path.startswith(parent + "/") and path.count("/") == depth:
                children.append({"name": group["name"], "path": path,
                                 "attributes": copy.deepcopy(group.get("attributes") or {}),
                                 "subGroups": nested(path)})
        return children

    rep["roles"] = {"realm": [copy.deepcopy(r) for _, r in sorted(desired.roles.items())]}
    rep["groups"] = nested("")
    rep["clients"] = [copy.deepcopy(c) for _, c in sorted(desired.clients.items())]
    return rep


def state_from_representation(rep: dict) -> RealmState:
    """A realm JSON (this module's export, or Keycloak's own `kc.sh export`) as the plan sees it:
    lets an IT team review a plan against an exported realm without admin access to Keycloak."""
    settings = {k: v for k, v in rep.items()
                if k not in ("roles", "groups", "clients", "users", "clientScopes", "authenticationFlows",
                             "authenticatorConfig", "requiredActions", "identityProviders", "components")}
    roles = {r["name"]: copy.deepcopy(r) for r in (rep.get("roles") or {}).get("realm") or []}
    for role in roles.values():  # an export lists composites by name already
        if role.get("composites"):
            role["composites"] = {"realm": sorted((role["composites"] or {}).get("realm") or [])}
    groups: dict[str, dict] = {}

    def walk(items: list[dict], parent: str) -> None:
        for group in items:
            path = group.get("path") or f"{parent}/{group['name']}"
            groups[path] = {k: copy.deepcopy(v) for k, v in group.items() if k != "subGroups"} | {"path": path}
            walk(group.get("subGroups") or [], path)

    walk(rep.get("groups") or [], "")
    clients = {c["clientId"]: {**copy.deepcopy(c), "protocolMappers": copy.deepcopy(c.get("protocolMappers") or [])}
               for c in rep.get("clients") or []}
    configs = {c.get("alias"): c for c in rep.get("authenticatorConfig") or []}
    flows_by_alias = {f["alias"]: f for f in rep.get("authenticationFlows") or []}
    flows = {}

    def executions(alias: str, level: int) -> list[dict]:
        out = []
        for item in sorted(flows_by_alias.get(alias, {}).get("authenticationExecutions") or [],
                           key=lambda e: e.get("priority", 0)):
            config = configs.get(item.get("authenticatorConfig"))
            if item.get("authenticatorFlow"):
                out.append({"level": level, "kind": "flow", "name": item.get("flowAlias"),
                            "requirement": item.get("requirement"), "config": None})
                out.extend(executions(item.get("flowAlias"), level + 1))
            else:
                out.append({"level": level, "kind": "execution", "name": item.get("authenticator"),
                            "requirement": item.get("requirement"),
                            "config": {"alias": config["alias"], "config": config.get("config") or {}} if config else None})
        return out

    for alias, flow in flows_by_alias.items():
        if flow.get("topLevel"):
            flows[alias] = {"alias": alias, "description": flow.get("description") or "",
                            "executions": executions(alias, 0)}
    return RealmState(settings=settings, roles=roles, groups=groups, clients=clients, flows=flows)
