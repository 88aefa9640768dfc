"""A STAND-IN for Keycloak, for tests only: an OpenID provider with Keycloak's URL layout and
token shapes, built from Authlib's server classes and served over real HTTP on 127.0.0.1.

It is NOT Keycloak and proves nothing about Keycloak itself: the same tests run against a real
Keycloak when KEYCLOAK_URL is set (tests/test_oidc_login.py). What it reproduces, because the
portal depends on it:

* the realm layout: /realms/{realm}/.well-known/openid-configuration and
  /realms/{realm}/protocol/openid-connect/{auth,token,certs,userinfo,logout};
* authorization code with PKCE (S256 required, as a Keycloak client set to S256 does), nonce
  required and single-use, state echoed, the `iss` authorization-response parameter;
* RS256 tokens signed with a key published at /certs under a `kid`; Keycloak's claims: `typ`
  ("ID" or "Bearer"), `azp`, `sid`, `realm_access.roles` (with Keycloak's own default roles),
  full-path `groups`, `preferred_username`, audience "account" plus audience-mapper clients;
* client_credentials for API clients: service-account tokens with `azp` = client id,
  preferred_username "service-account-<client id>", and hardcoded claims (e.g. `institution`);
* an SSO session cookie, ended by RP-initiated logout (id_token_hint, post_logout_redirect_uri).
* a login form shaped like Keycloak's (form id "kc-form-login", fields username and password).

Usage::

    with KeycloakStandIn(users={"amira": StandInUser("pw", roles=["submitter"],
                                                     groups=["/institutions/MI/MI-PAF"])},
                         clients={"marsad-portal": StandInClient("secret",
                                                                 redirect_uris=["http://localhost/*"])}) as kc:
        kc.issuer  # -> http://127.0.0.1:PORT/realms/marsad

Tests that need bad tokens set `kc.tamper` (claims to override in the next tokens, or a foreign
signing key) or `kc.mint(...)` any token they like.
"""
from __future__ import annotations

import html
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo, UserInfoEndpoint
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

SESSION_COOKIE = "KEYCLOAK_SESSION"   # Keycloak's SSO cookie has this name too
CODE_LIFETIME = 60                    # seconds; Keycloak's default
KEYCLOAK_DEFAULT_ROLES = ("offline_access", "uma_authorization")
# What Keycloak's discovery document advertises; the portal must not trust HS256 because of it.
KEYCLOAK_SIGNING_ALGS = ["PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512",
                         "PS256", "PS512", "RS512"]


@dataclass
class StandInUser:
    password: str
    roles: list[str] = field(default_factory=list)      # realm roles
    groups: list[str] = field(default_factory=list)     # full group paths
    attributes: dict[str, Any] = field(default_factory=dict)  # extra claims, as user-attribute mappers add
    given_name: str = "Test"
    family_name: str = "User"


@dataclass
class StandInClient:
    secret: str
    redirect_uris: list[str] = field(default_factory=list)   # exact, or ending in "*" (Keycloak's wildcard)
    post_logout_redirect_uris: list[str] | None = None       # None: Keycloak's "+", the redirect URIs
    service_account: bool = False                             # client_credentials allowed
    roles: list[str] = field(default_factory=list)            # the service account's realm roles
    groups: list[str] = field(default_factory=list)           # the service account's groups
    claims: dict[str, Any] = field(default_factory=dict)      # hardcoded-claim mappers
    audience: list[str] = field(default_factory=list)         # audience mappers: client ids added to `aud`


@dataclass
class Tamper:
    """What to spoil in the next tokens: claim overrides (None removes a claim), or a foreign key."""

    id_token: dict[str, Any] = field(default_factory=dict)
    access_token: dict[str, Any] = field(default_factory=dict)
    foreign_key: bool = False


def _matches(uri: str, patterns: list[str]) -> bool:
    return any(uri == p or (p.endswith("*") and uri.startswith(p[:-1])) for p in patterns)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # one line per request would bury the test output
        pass


# --- the models Authlib's grants work on --------------------------------------------------------

class _Client:
    def __init__(self, client_id: str, spec: StandInClient):
        self.client_id, self.spec = client_id, spec

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": self.post_logout_uris}

    @property
    def post_logout_uris(self) -> list[str]:
        uris = self.spec.post_logout_redirect_uris
        return list(self.spec.redirect_uris if uris is None else uris)

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        exact = [u for u in self.spec.redirect_uris if not u.endswith("*")]
        return exact[0] if exact else None

    def get_allowed_scope(self, scope):
        # Keycloak grants the default client scopes whatever was asked, plus openid when asked.
        asked = set((scope or "").split())
        return " ".join(sorted({"profile", "email"} | (asked & {"openid"})))

    def check_redirect_uri(self, redirect_uri):
        return _matches(redirect_uri, self.spec.redirect_uris)

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(str(client_secret), self.spec.secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code" and bool(self.spec.redirect_uris)

    def check_grant_type(self, grant_type):
        if grant_type == "client_credentials":
            return self.spec.service_account
        return grant_type == "authorization_code" and bool(self.spec.redirect_uris)


@dataclass
class _Login:
    """An SSO session: who signed in, when, under which session id."""

    username: str
    sid: str
    auth_time: int


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    login: _Login
    issued: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.login.auth_time

    def get_acr(self):
        return "1"

    def get_amr(self):
        return None


class _AccessToken:
    def __init__(self, claims: dict, client, login):
        self.claims, self.client, self.login = claims, client, login

    def is_expired(self):
        return self.claims["exp"] <= time.time()

    def is_revoked(self):
        return False

    @property
    def scope(self):
        return self.claims.get("scope", "")

    def get_scope(self):
        return self.scope

    def get_client(self):
        return self.client

    def get_user(self):
        return self.login


# --- grants and endpoints --------------------------------------------------------------------

class _S256Required(CodeChallenge):
    """Keycloak with "PKCE method S256" set on the client refuses a request without it, or with plain."""

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Missing parameter: code_challenge_method (S256 required)")
        super().validate_code_challenge(grant, redirect_uri)


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, req):
        data = req.payload.data
        nonce = data.get("nonce")
        standin = self.server.standin
        standin._codes[code] = _Code(code, req.client.client_id, req.payload.redirect_uri, req.payload.scope,
                                     nonce, data.get("code_challenge"), data.get("code_challenge_method"),
                                     req.user, time.time())
        if nonce:
            standin._nonces.add(nonce)

    def query_authorization_code(self, code, client):
        item = self.server.standin._codes.get(code)
        if item and item.client_id == client.client_id and time.time() - item.issued < CODE_LIFETIME:
            return item
        return None

    def delete_authorization_code(self, authorization_code):
        self.server.standin._codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        login = authorization_code.login
        return login if login.sid in self.server.standin.sessions else None


class _ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _OpenIDCode(OpenIDCode):
    def __init__(self, standin: KeycloakStandIn):
        super().__init__(require_nonce=True)
        self.standin = standin

    def exists_nonce(self, nonce, req):
        return nonce in self.standin._nonces

    def resolve_client_private_key(self, client):
        return self.standin._signing_key()

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "typ": "JWT", "kid": self.standin.kid}

    def get_client_claims(self, client):
        now = int(time.time())
        claims = {"iss": self.standin.issuer, "aud": client.client_id, "azp": client.client_id, "typ": "ID",
                  "iat": now, "exp": now + self.standin.token_lifetime, "jti": str(uuid.uuid4())}
        return self.standin._apply(claims, self.standin.tamper.id_token)

    def get_authorization_code_claims(self, authorization_code):
        # Tampering applies to every part the ID token is made of (nonce and auth_time come from here).
        return self.standin._apply(super().get_authorization_code_claims(authorization_code),
                                   {k: v for k, v in self.standin.tamper.id_token.items() if v is None})

    def generate_user_info(self, user, scope):
        claims = self.standin._user_claims(user)
        claims["sid"] = user.sid
        # Claims set last win over the standard ones: that is how a test spoils aud, nonce or exp.
        return self.standin._apply(claims, self.standin.tamper.id_token)


class _BearerValidator(BearerTokenValidator):
    def __init__(self, standin: KeycloakStandIn):
        super().__init__(realm=standin.realm)
        self.standin = standin

    def authenticate_token(self, token_string):
        try:
            claims = jwt.decode(token_string, self.standin.keys, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return None
        login = self.standin.sessions.get(claims.get("sid"))
        client = self.standin._client(claims.get("azp"))
        if claims.get("iss") != self.standin.issuer or claims.get("typ") != "Bearer" or not client:
            return None
        return _AccessToken(claims, client, login)


class _UserInfo(UserInfoEndpoint):
    def __init__(self, standin: KeycloakStandIn, protector):
        super().__init__(resource_protector=protector)
        self.standin = standin

    def generate_user_info(self, user, scope):
        if user is None:  # a service account's token, or a session that ended
            raise InvalidTokenError(realm=self.standin.realm)
        return UserInfo(self.standin._user_claims(user))

    def get_issuer(self):
        return self.standin.issuer


class _EndSession(EndSessionEndpoint):
    def __init__(self, standin: KeycloakStandIn):
        super().__init__()
        self.standin = standin

    def get_server_jwks(self):
        return self.standin.keys

    def get_algorithms(self):
        return ["RS256"]

    def _is_valid_post_logout_redirect_uri(self, client, uri):
        return _matches(uri, client.post_logout_uris)  # Keycloak's wildcards, not only exact URIs

    def end_session(self, req):
        sid = (req.id_token_claims or {}).get("sid") or request.cookies.get(SESSION_COOKIE)
        if sid and self.standin.sessions.pop(sid, None) is not None:
            self.standin.ended_sessions.append(sid)


# --- the provider -------------------------------------------------------------------------------

class KeycloakStandIn:
    """A Keycloak-shaped OpenID provider on 127.0.0.1 for the length of a `with` block (or start/stop)."""

    def __init__(self, users: dict[str, StandInUser | dict] | None = None,
                 clients: dict[str, StandInClient | dict] | None = None, *, realm: str = "marsad",
                 host: str = "127.0.0.1", port: int = 0, token_lifetime: int = 300):
        self.users = {name: u if isinstance(u, StandInUser) else StandInUser(**u) for name, u in (users or {}).items()}
        self.clients = {cid: c if isinstance(c, StandInClient) else StandInClient(**c)
                        for cid, c in (clients or {}).items()}
        self.realm = realm
        self.token_lifetime = token_lifetime
        self.tamper = Tamper()
        self.sessions: dict[str, _Login] = {}
        self.ended_sessions: list[str] = []
        self.kid = secrets.token_hex(8)
        self.private_key = RSAKey.generate_key(2048, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"})
        # Same kid, different key: what a forger without the realm's key would sign with.
        self.foreign_key = RSAKey.generate_key(2048, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"})
        self.keys = KeySet([RSAKey.import_key(self.private_key.as_dict(private=False))])
        self._codes: dict[str, _Code] = {}
        self._nonces: set[str] = set()
        self._server = None
        self._thread: threading.Thread | None = None
        self._host, self._port = host, port
        self.app = self._build_app()

    # --- lifecycle ---
    def start(self) -> KeycloakStandIn:
        self._server = make_server(self._host, self._port, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="keycloak-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> KeycloakStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{self.realm}"

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/protocol/openid-connect/{name}"

    # --- tokens ---
    def _signing_key(self):
        return self.foreign_key if self.tamper.foreign_key else self.private_key

    @staticmethod
    def _apply(claims: dict, overrides: dict) -> dict:
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def _client(self, client_id) -> _Client | None:
        spec = self.clients.get(client_id) if isinstance(client_id, str) else None
        return _Client(client_id, spec) if spec else None

    @staticmethod
    def subject(name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"keycloak-standin:{name}"))

    def _roles(self, roles) -> dict:
        return {"roles": sorted({*roles, *KEYCLOAK_DEFAULT_ROLES, f"default-roles-{self.realm}"})}

    def _user_claims(self, login: _Login) -> dict:
        user = self.users[login.username]
        claims = {"sub": self.subject(login.username), "preferred_username": login.username,
                  "email": f"{login.username}@example.org", "email_verified": True,
                  "given_name": user.given_name, "family_name": user.family_name,
                  "name": f"{user.given_name} {user.family_name}", "realm_access": self._roles(user.roles)}
        if user.groups:
            claims["groups"] = list(user.groups)
        claims.update(user.attributes)
        return claims

    def _audience(self, client: _Client) -> str | list[str]:
        aud = ["account", *client.spec.audience]
        return aud[0] if len(aud) == 1 else aud  # Keycloak writes a lone audience as a string

    def mint(self, claims: dict | None = None, *, kind: str = "access", client_id: str | None = None,
             key=None, header: dict | None = None, lifetime: int | None = None) -> str:
        """A token signed with the realm's key (or `key`), Keycloak defaults, `claims` on top (None removes)."""
        now = int(time.time())
        base = {"iss": self.issuer, "iat": now, "exp": now + (lifetime or self.token_lifetime),
                "jti": str(uuid.uuid4()), "typ": "Bearer" if kind == "access" else "ID"}
        if client_id:
            base.update(azp=client_id, aud=client_id if kind == "id" else self._audience(self._client(client_id)))
        headers = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **(header or {})}
        signing = key or self.private_key
        return jwt.encode(headers, self._apply(base, claims or {}), signing, algorithms=[headers["alg"]])

    def _issue(self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
        """Authlib's token generator hook: Keycloak-shaped access tokens."""
        now = int(time.time())
        scope = client.get_allowed_scope(scope)
        claims = {"iss": self.issuer, "iat": now, "exp": now + self.token_lifetime, "jti": str(uuid.uuid4()),
                  "aud": self._audience(client), "typ": "Bearer", "azp": client.client_id, "acr": "1",
                  "scope": scope, "allowed-origins": ["/*"]}
        if user is not None:
            claims.update(self._user_claims(user), sid=user.sid, auth_time=user.auth_time)
        else:  # a client's service account
            spec = client.spec
            name = f"service-account-{client.client_id}"
            claims.update(sub=self.subject(name), preferred_username=name, client_id=client.client_id,
                          clientHost="127.0.0.1", clientAddress="127.0.0.1", realm_access=self._roles(spec.roles))
            if spec.groups:
                claims["groups"] = list(spec.groups)
            claims.update(spec.claims)
        self._apply(claims, self.tamper.access_token)
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        token = {"access_token": jwt.encode(header, claims, self._signing_key(), algorithms=["RS256"]),
                 "token_type": "Bearer", "expires_in": self.token_lifetime, "refresh_expires_in": 0,
                 "not-before-policy": 0, "scope": scope}
        if user is not None:
            token["session_state"] = user.sid
        return token

    def client_credentials_token(self, client_id: str, secret: str | None = None) -> str:
        """An access token for an API client, fetched over HTTP as the client itself would."""
        import requests

        secret = secret if secret is not None else self.clients[client_id].secret
        response = requests.post(self.endpoint("token"), data={"grant_type": "client_credentials"},
                                 auth=(client_id, secret), timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]

    # --- the HTTP side ---
    def metadata(self) -> dict:
        doc = {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("auth"),
            "token_endpoint": self.endpoint("token"),
            "userinfo_endpoint": self.endpoint("userinfo"),
            "end_session_endpoint": self.endpoint("logout"),
            "jwks_uri": self.endpoint("certs"),
            "introspection_endpoint": self.endpoint("token/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": KEYCLOAK_SIGNING_ALGS,
            "userinfo_signing_alg_values_supported": KEYCLOAK_SIGNING_ALGS,
            "code_challenge_methods_supported": ["plain", "S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email", "roles", "groups"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "name", "given_name",
                                 "family_name", "preferred_username", "email", "acr", "azp", "sid"],
            "authorization_response_iss_parameter_supported": True,
            "frontchannel_logout_supported": True,
        }
        OpenIDProviderMetadata(doc).validate()  # Authlib's check of a discovery document
        return doc

    def _login_page(self, error: str = "", status: int = 200) -> Response:
        action = html.escape(request.full_path.rstrip("?"), quote=True)
        message = f'<p id="input-error" class="kc-feedback-text">{html.escape(error)}</p>' if error else ""
        body = (f"<!doctype html><html><head><title>Sign in to {html.escape(self.realm)} (stand-in)</title></head>"
                f'<body><h1>Keycloak stand-in: sign in</h1>{message}'
                f'<form id="kc-form-login" action="{action}" method="post">'
                '<input id="username" name="username" type="text" autocomplete="username">'
                '<input id="password" name="password" type="password" autocomplete="current-password">'
                '<input id="kc-login" name="login" type="submit" value="Sign In"></form></body></html>')
        return Response(body, status=status, mimetype="text/html")

    def _authorize(self, server: AuthorizationServer) -> Response:
        sso = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        try:
            grant = server.get_consent_grant(end_user=sso)
        except OAuth2Error as error:
            if error.redirect_uri:  # a valid client and redirect URI: the error goes back to the client
                return server.handle_error_response(None, error)
            return Response(f"stand-in: {error.error}: {error.description}", status=400, mimetype="text/plain")
        login = None
        if request.method == "POST":
            name, password = request.form.get("username", ""), request.form.get("password", "")
            user = self.users.get(name)
            if user is None or not secrets.compare_digest(password, user.password):
                return self._login_page("Invalid username or password.", 401)
            login = _Login(name, str(uuid.uuid4()), int(time.time()))
            self.sessions[login.sid] = login
        elif sso is not None and "login" not in (request.args.get("prompt") or "").split():
            login = sso
        if login is None:
            return self._login_page()
        response = server.create_authorization_response(grant_user=login, grant=grant)
        if response.status_code == 302:
            # RFC 9207: the issuer travels with the code, so a client can tell providers apart.
            location = response.headers["Location"]
            response.headers["Location"] = location + ("&" if "?" in location else "?") + urlencode({"iss": self.issuer})
        response.set_cookie(SESSION_COOKIE, login.sid, path=f"/realms/{self.realm}/", httponly=True, samesite="Lax")
        return response

    def _build_app(self) -> Flask:
        app = Flask("keycloak_standin")
        server = AuthorizationServer(app, query_client=self._client, save_token=lambda token, req: None)
        server.standin = self
        server.register_grant(_CodeGrant, [_S256Required(required=True), _OpenIDCode(self)])
        server.register_grant(_ClientCredentialsGrant)
        server.register_token_generator("default", self._issue)
        protector = ResourceProtector()
        protector.register_token_validator(_BearerValidator(self))
        server.register_endpoint(_UserInfo(self, protector))
        server.register_endpoint(_EndSession(self))
        base = f"/realms/{self.realm}"
        oidc = f"{base}/protocol/openid-connect"

        @app.get(f"{base}/.well-known/openid-configuration")
        def discovery():
            return jsonify(self.metadata())

        @app.get(f"{oidc}/certs")
        def certs():
            return jsonify(self.keys.as_dict())

        @app.route(f"{oidc}/auth", methods=["GET", "POST"])
        def auth():
            return self._authorize(server)

        @app.post(f"{oidc}/token")
        def token():
            return server.create_token_response()

        @app.route(f"{oidc}/userinfo", methods=["GET", "POST"])
        def userinfo():
            return server.create_endpoint_response("userinfo")

        @app.route(f"{oidc}/logout", methods=["GET", "POST"])
        def logout():
            try:
                req = server.validate_endpoint_request("end_session")
            except OAuth2Error as error:
                return Response(f"stand-in: {error.error}: {error.description}", status=400, mimetype="text/plain")
            response = server.create_endpoint_response("end_session", req) or Response(
                "You are logged out (stand-in).", mimetype="text/plain")
            response.delete_cookie(SESSION_COOKIE, path=f"{base}/")
            return response

        return app


# --- for the tests: the realm they sign in against, stand-in or real ------------------------------

PORTAL_CLIENT = "marsad-portal"
PORTAL_URL = "http://localhost"  # where Flask's test client says the portal is


@dataclass
class Account:
    """Someone who signs in, and what the portal should make of them (None: refused)."""

    username: str
    password: str
    institution: str | None = None
    roles: frozenset[str] = frozenset()


@dataclass
class RealmUnderTest:
    """What a test needs to know of the realm: a KeycloakStandIn, or a real Keycloak from KEYCLOAK_* variables."""

    issuer: str
    client_id: str
    client_secret: str
    user: Account
    api_client: tuple[str, str] | None = None     # (client id, secret) of a client-credentials API client
    standin: KeycloakStandIn | None = None

    def portal_config(self) -> dict:
        return {"OIDC_ISSUER": self.issuer, "OIDC_CLIENT_ID": self.client_id, "OIDC_CLIENT_SECRET": self.client_secret}

    def api_token(self) -> str:
        import requests

        client_id, secret = self.api_client
        response = requests.post(f"{self.issuer}/protocol/openid-connect/token",
                                 data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]


def standin_users() -> dict[str, StandInUser]:
    return {
        "amira": StandInUser("amira-pw", roles=["submitter"], groups=["/institutions/MI/MI-PAF"]),
        "karim": StandInUser("karim-pw", roles=["onm_analyst", "uma_authorization"], groups=["/institutions/ONM"]),
        "salma": StandInUser("salma-pw", roles=["analyst"], attributes={"institution": "INS"}),
        "ghost": StandInUser("ghost-pw", roles=["submitter"], groups=["/institutions/XYZ"]),
        "drifter": StandInUser("drifter-pw", roles=["submitter"], groups=["/helpdesk"]),
        "roleless": StandInUser("roleless-pw", roles=[], groups=["/institutions/INS"]),
    }


def standin_clients() -> dict[str, StandInClient]:
    def api(**kwargs) -> StandInClient:
        return StandInClient(secret=secrets.token_urlsafe(16), service_account=True, audience=[PORTAL_CLIENT],
                             **kwargs)
    return {
        PORTAL_CLIENT: StandInClient("portal-secret", redirect_uris=[f"{PORTAL_URL}/*"]),
        "mi-paf-api": api(roles=["submitter"], claims={"institution": "MI-PAF"}),
        "mi-api": api(roles=["focal_point"], groups=["/institutions/MI"]),
        "unhcr-api": api(roles=["submitter"], groups=["/institutions/UNHCR"]),
        "onm-api": api(roles=["onm_analyst"], groups=["/institutions/ONM"]),
        "stranger-api": api(roles=["submitter"], claims={"institution": "NOWHERE"}),
        "deaf-api": StandInClient(secret="deaf", service_account=True, roles=["submitter"],
                                  claims={"institution": "MI-PAF"}),  # no audience mapper: aud lacks the portal
    }


def standin_realm(kc: KeycloakStandIn) -> RealmUnderTest:
    return RealmUnderTest(kc.issuer, PORTAL_CLIENT, kc.clients[PORTAL_CLIENT].secret,
                          Account("amira", "amira-pw", "MI-PAF", frozenset({"submitter"})),
                          api_client=("mi-paf-api", kc.clients["mi-paf-api"].secret), standin=kc)


NO_KEYCLOAK = "no Keycloak here: set KEYCLOAK_URL"
KEYCLOAK_VARIABLES = """KEYCLOAK_URL (e.g. http://localhost:8080), KEYCLOAK_REALM (default marsad),
KEYCLOAK_CLIENT_ID (default marsad-portal; confidential, PKCE S256, redirect URI http://localhost/*),
KEYCLOAK_CLIENT_SECRET, KEYCLOAK_USER, KEYCLOAK_PASSWORD, KEYCLOAK_USER_INSTITUTION and
KEYCLOAK_USER_ROLES (what the portal should make of that user), and for the API
KEYCLOAK_API_CLIENT_ID, KEYCLOAK_API_CLIENT_SECRET (a client-credentials client whose tokens carry
the portal client in `aud`)."""


def keycloak_realm_from_env() -> RealmUnderTest | None:
    """A real Keycloak described by KEYCLOAK_* variables (see KEYCLOAK_VARIABLES); None without KEYCLOAK_URL."""
    import os

    url = os.environ.get("KEYCLOAK_URL", "").rstrip("/")
    if not url:
        return None
    env = os.environ.get
    roles = frozenset(r for r in env("KEYCLOAK_USER_ROLES", "").replace(",", " ").split() if r)
    api = (env("KEYCLOAK_API_CLIENT_ID"), env("KEYCLOAK_API_CLIENT_SECRET", "")) if env("KEYCLOAK_API_CLIENT_ID") else None
    return RealmUnderTest(f"{url}/realms/{env('KEYCLOAK_REALM', 'marsad')}", env("KEYCLOAK_CLIENT_ID", PORTAL_CLIENT),
                          env("KEYCLOAK_CLIENT_SECRET", ""),
                          Account(env("KEYCLOAK_USER", ""), env("KEYCLOAK_PASSWORD", ""),
                                  env("KEYCLOAK_USER_INSTITUTION") or None, roles), api_client=api)


def login_form_action(page) -> str | None:
    """The sign-in form's target on a Keycloak (or stand-in) login page, absolute."""
    import re
    from urllib.parse import urljoin

    found = re.search(r'<form[^>]*id="kc-form-login"[^>]*>', page.text) or re.search(r"<form[^>]*>", page.text)
    action = re.search(r'action="([^"]*)"', found.group(0)) if found else None
    return urljoin(page.url, html.unescape(action.group(1))) if action else None


def sign_in_through_keycloak(client, browser, username: str, password: str, next_url: str | None = None):
    """The whole round trip by hand: portal -> Keycloak login form -> portal callback.

    `client` is the portal's Flask test client, `browser` a requests.Session playing the browser at
    Keycloak (its cookies are Keycloak's). Returns (the portal's answer to the callback, the
    authorization request URL the portal sent the browser to).
    """
    from urllib.parse import urlsplit

    start = client.get("/login/keycloak" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize_url = start.headers["Location"]
    page = browser.get(authorize_url, allow_redirects=False, timeout=10)
    if page.status_code != 302:  # no SSO session yet: the login form
        assert page.status_code == 200, page.text[:500]
        page = browser.post(login_form_action(page), data={"username": username, "password": password},
                            allow_redirects=False, timeout=10)
        assert page.status_code == 302, f"login at the provider failed: {page.status_code} {page.text[:300]}"
    back = urlsplit(page.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == PORTAL_URL, back
    return client.get(f"{back.path}?{back.query}"), authorize_url
