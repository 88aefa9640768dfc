"""A realm made from policies/ on the session's real Keycloak, with a user to sign in as.

`keycloak_realm` (a session fixture, registered in tests/conftest.py) runs `marsad identity sync`
into a fresh realm, then creates through the admin API what policies/ cannot describe: a partner
user with a password, and the generated client secrets. It returns the same `RealmUnderTest` as
`oidc_standin.keycloak_realm_from_env()`, so a test runs unchanged against either. A developer
whose KEYCLOAK_URL names an external Keycloak gets that one instead (see KEYCLOAK_VARIABLES).
"""
from __future__ import annotations

import http.cookiejar
import secrets
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from services.cli import main
from tests.oidc_standin import PORTAL_CLIENT, PORTAL_URL, Account, RealmUnderTest, keycloak_realm_from_env

# A submitter: its role asks for no OTP (policies make admins and focal points enrol one).
USER = Account("amira", "", "MI-PAF", frozenset({"submitter"}))
USER_GROUP = "/institutions/MI/MI-PAF"
API_CLIENT = "marsad-api-mi-paf"


def make_realm(server, name: str) -> RealmUnderTest:
    from services.identity import keycloak_sync

    env = {**server.environ(), "MARSAD_KEYCLOAK_REALM": name, "MARSAD_PORTAL_URLS": PORTAL_URL,
           "MARSAD_OIDC_CLIENT_ID": PORTAL_CLIENT}
    result = CliRunner().invoke(main, ["identity", "sync"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    admin = keycloak_sync.connect(name, env)
    # A password the realm's policy accepts; a complete profile, or Keycloak asks for one at login.
    password = secrets.token_urlsafe(12) + "Aa1!"
    user_id = admin.create_user({
        "username": USER.username, "enabled": True, "email": f"{USER.username}@mi-paf.example.tn",
        "emailVerified": True, "firstName": "Amira", "lastName": "Test", "requiredActions": [],
        "credentials": [{"type": "password", "value": password, "temporary": False}],
    })
    admin.assign_realm_roles(user_id, [admin.get_realm_role(role) for role in USER.roles])
    admin.group_user_add(user_id, admin.get_group_by_path(USER_GROUP)["id"])
    return RealmUnderTest(f"{server.url}/realms/{name}", PORTAL_CLIENT,
                          keycloak_sync.client_secret(admin, PORTAL_CLIENT),
                          Account(USER.username, password, USER.institution, USER.roles),
                          api_client=(API_CLIENT, keycloak_sync.client_secret(admin, API_CLIENT)))


def delete_realm(server, name: str) -> None:
    from services.identity import keycloak_sync

    admin = keycloak_sync.connect("master", server.environ())
    if any(r["realm"] == name for r in admin.get_realms()):
        admin.delete_realm(name)


def _loopback_is_secure():
    """Keycloak marks its cookies Secure (SameSite=None) even over http. Browsers still send them to
    http://127.0.0.1, a secure context; Python's cookie jar does not, so the tests' requests.Session
    would lose the login session. Teach the jar what browsers do, for loopback only."""
    plain = http.cookiejar.DefaultCookiePolicy.return_ok_secure

    def return_ok_secure(self, cookie, request):
        host = urlsplit(request.get_full_url()).hostname
        return host in ("127.0.0.1", "localhost", "::1") or plain(self, cookie, request)
    return return_ok_secure


def realm_for_session(request):
    """The external Keycloak of KEYCLOAK_* variables if set, else a realm on the session's server."""
    external = keycloak_realm_from_env()
    if external is not None:
        yield external
        return
    server = request.getfixturevalue("keycloak")
    name = f"marsad-test-{secrets.token_hex(4)}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http.cookiejar.DefaultCookiePolicy, "return_ok_secure", _loopback_is_secure())
        try:
            yield make_realm(server, name)
        finally:
            delete_realm(server, name)
