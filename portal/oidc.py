"""Signing in with Keycloak over OpenID Connect, through Authlib's Flask client.

Authorization code with PKCE (S256); Authlib keeps state, nonce and the code verifier in the
session between the redirect and the callback, checks the state, and checks the ID token against
the keys the realm publishes (signature, issuer, audience = our client, expiry, nonce, at_hash).
The access token is checked too (services.identity.keycloak: same keys, issued to us, same
subject), because Keycloak puts realm roles there and not in the ID token by default. The
claims become a Principal in services.identity.claims, the one place that knows the realm's
group convention; `access.sign_in(principal, "oidc")` then starts the portal session.

Logging out ends the Keycloak session too: the end_session_endpoint with id_token_hint and
post_logout_redirect_uri (see `end_session_url`, called by auth.logout).

Configuration (environment, or the same keys in create_app's config):
  MARSAD_OIDC_ISSUER          the realm, e.g. https://kc.example/realms/marsad
  MARSAD_OIDC_CLIENT_ID       the portal's confidential client
  MARSAD_OIDC_CLIENT_SECRET
  MARSAD_OIDC_API_AUDIENCE    what API bearer tokens must carry in `aud` (default: the client id)
"""
from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from joserfc.errors import JoseError

from services import audit
from services.config import IdentityEnv, section
from services.identity.claims import ClaimsRefused, principal_from_claims
from services.identity.keycloak import Realm, TokenRefused, well_known_url
from services.languages import LANGUAGES

from portal.access import (
    checked_next, current_principal, local_accounts_enabled, login_method, safe_next, sign_in,
)
from portal.runtime import db_session, runtime

log = logging.getLogger(__name__)

bp = Blueprint("oidc", __name__)

EXTENSION = "marsad_oidc"
CLIENT = "keycloak"
SCOPE = "openid profile email"
ID_TOKEN_KEY = "oidc_id_token"   # kept for id_token_hint at logout
NEXT_KEY = "oidc_next"
SETTINGS = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_API_AUDIENCE")  # app.config keys
# Why a sign-in was refused, as the person reads it (details go to the audit trail and the log).
INSTITUTION_PROBLEMS = {"no_institution", "unknown_institution", "misplaced_group", "several_institutions",
                        "conflicting_institution"}


def oidc_settings(config) -> dict[str, str]:
    """The OIDC settings: the app's config where given, else the environment."""
    env = section(IdentityEnv)  # MARSAD_OIDC_* (services/config.py)
    out = {key: str(config.get(key) or getattr(env, key.lower())).strip() for key in SETTINGS}
    out["OIDC_ISSUER"] = out["OIDC_ISSUER"].rstrip("/")
    out["OIDC_API_AUDIENCE"] = out["OIDC_API_AUDIENCE"] or out["OIDC_CLIENT_ID"]
    return out


def configuration_problems(config, production: bool) -> list[str]:
    """Why the OIDC configuration may not serve production (called by portal.refusals)."""
    if not production:
        return []
    cfg = oidc_settings(config)
    out = []
    if not cfg["OIDC_ISSUER"]:
        if not config.get("LOCAL_ACCOUNTS"):
            out.append("MARSAD_OIDC_ISSUER is not set and local accounts are off: nobody could sign in")
        return out
    if not cfg["OIDC_ISSUER"].startswith("https://"):
        out.append("MARSAD_OIDC_ISSUER is not https: tokens and the client secret would travel in clear")
    for key in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
        if not cfg[key]:
            out.append(f"MARSAD_{key} is not set")
    return out


class KeycloakLogin:
    """The registered Authlib client and the realm it signs in against."""

    def __init__(self, app, cfg: dict[str, str]):
        self.issuer = cfg["OIDC_ISSUER"]
        self.client_id = cfg["OIDC_CLIENT_ID"]
        self.api_audience = cfg["OIDC_API_AUDIENCE"]
        self.realm = Realm(self.issuer)
        self.oauth = OAuth(app)
        self.client = self.oauth.register(
            CLIENT, client_id=self.client_id, client_secret=cfg["OIDC_CLIENT_SECRET"],
            server_metadata_url=well_known_url(self.issuer),
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": 10},
        )

    def metadata(self) -> dict:
        metadata = self.client.load_server_metadata()
        if metadata.get("issuer") != self.issuer:  # OpenID Connect Discovery 1.0, section 4.3
            raise TokenRefused("issuer_mismatch", f"the discovery document names issuer {metadata.get('issuer')!r}")
        return metadata


def init_app(app) -> None:
    cfg = oidc_settings(app.config)
    app.config.update(cfg)
    if cfg["OIDC_ISSUER"] and cfg["OIDC_CLIENT_ID"] and cfg["OIDC_CLIENT_SECRET"]:
        app.extensions[EXTENSION] = KeycloakLogin(app, cfg)
    elif cfg["OIDC_ISSUER"]:
        log.warning("MARSAD_OIDC_ISSUER is set without a client id and secret: Keycloak sign-in is off")
    app.jinja_env.globals["oidc_enabled"] = enabled
    app.register_blueprint(bp)


def keycloak() -> KeycloakLogin | None:
    return current_app.extensions.get(EXTENSION)


def enabled() -> bool:
    return keycloak() is not None


def _login_page(status: int):
    return render_template("auth/login.html", next_url=checked_next(session.get(NEXT_KEY)),
                           local=local_accounts_enabled()), status


def _refuse(code: str, detail: str, username: str | None = None, status: int = 401):
    """Record a refused sign-in and show the login page with a message the person can act on."""
    log.warning("Keycloak sign-in refused (%s): %s", code, detail)
    audit.record(db_session(), actor=username or "-", action="auth.login.failed",
                 details={"method": "oidc", "reason": code, "detail": detail[:500],
                          "address": request.remote_addr or "-"})
    if code in INSTITUTION_PROBLEMS:
        flash(_("Keycloak signed you in, but your account is not attached to exactly one institution of this "
                "observatory. Ask the observatory's administrator to check your account's group."), "error")
        status = 403
    elif code == "no_role":
        flash(_("Keycloak signed you in, but your account holds no role in this portal. Ask your institution's "
                "focal point to grant you one."), "error")
        status = 403
    elif code == "unavailable":
        flash(_("Keycloak cannot be reached at the moment. Try again in a few minutes."), "error")
    else:
        flash(_("Signing in through Keycloak failed. Try again; if it keeps failing, tell the observatory's "
                "administrator."), "error")
    return _login_page(status)


@bp.route("/login/keycloak")
def login():
    kc = keycloak()
    if kc is None:
        abort(404)
    from portal.i18n import current_language

    next_url = safe_next(request.args.get("next"))
    if current_principal() is not None:
        return redirect(next_url)
    session[NEXT_KEY] = next_url
    try:
        kc.metadata()
        return kc.client.authorize_redirect(url_for("oidc.callback", _external=True),
                                            ui_locales=current_language())
    except TokenRefused as exc:
        return _refuse(exc.code, exc.message, status=503)
    except (requests.RequestException, ValueError) as exc:
        return _refuse("unavailable", f"discovery failed: {exc}", status=503)


@bp.route("/login/keycloak/callback")
def callback():
    kc = keycloak()
    if kc is None:
        abort(404)
    # RFC 9207: Keycloak names itself in the response; a code from another provider is refused early.
    sent_issuer = request.args.get("iss")
    if sent_issuer is not None and sent_issuer != kc.issuer:
        return _refuse("wrong_issuer", f"authorization response from {sent_issuer!r}")
    if request.args.get("error"):
        return _refuse("provider_error", f"{request.args.get('error')}: {request.args.get('error_description', '')}")
    try:
        kc.metadata()
        token = kc.client.authorize_access_token(claims_options={
            "iss": {"essential": True, "value": kc.issuer},
            "aud": {"essential": True, "value": kc.client_id},
            "sub": {"essential": True},
        }, leeway=60)
    except OAuthError as exc:   # mismatching or missing state, refused code, bad client secret...
        return _refuse("oauth_error", f"{exc.error}: {exc.description}")
    except JoseError as exc:    # ID token signature, expiry, audience, azp, nonce, at_hash
        return _refuse("bad_id_token", f"{exc.error}: {exc.description}")
    except TokenRefused as exc:
        return _refuse(exc.code, exc.message)
    except (requests.RequestException, ValueError) as exc:
        return _refuse("unavailable", f"token exchange failed: {exc}", status=503)

    id_claims = token.get("userinfo")
    if not id_claims or not token.get("id_token"):
        # Authlib checks an ID token only when there is one: without it nothing here is verified.
        return _refuse("no_id_token", "the token response carries no ID token")
    try:
        access = kc.realm.verify(token.get("access_token", ""), authorized_party=kc.client_id, token_type="Bearer")
    except TokenRefused as exc:
        return _refuse(f"access_token_{exc.code}", exc.message, id_claims.get("preferred_username"))
    if access.get("sub") != id_claims.get("sub"):
        return _refuse("subject_mismatch", "the access token and the ID token name different subjects")

    # Roles live in the access token; identity claims the ID token also carries take its word.
    claims = {**access, **id_claims}
    try:
        principal = principal_from_claims(claims, runtime().policies)
    except ClaimsRefused as exc:
        return _refuse(exc.code, exc.message, claims.get("preferred_username"))

    next_url = safe_next(session.get(NEXT_KEY))  # checked when stored; checked again where it is used
    sign_in(principal, "oidc")
    session[ID_TOKEN_KEY] = token["id_token"]
    locale = id_claims.get("locale")
    if "lang" not in session and locale in LANGUAGES:  # the language set in Keycloak, unless chosen here
        session["lang"] = locale
    audit.record(db_session(), actor=principal.username, institution=principal.institution, action="auth.login",
                 details={"method": "oidc", "sid": id_claims.get("sid"), "address": request.remote_addr or "-"})
    return redirect(next_url)


def end_session_url() -> str | None:
    """Where to send the browser so that Keycloak ends its session too; None when not signed in by Keycloak."""
    kc = keycloak()
    if kc is None or login_method() != "oidc":
        return None
    try:
        kc.metadata()
        return kc.client.create_logout_url(post_logout_redirect_uri=url_for("auth.login", _external=True),
                                           id_token_hint=session.get(ID_TOKEN_KEY), client_id=kc.client_id)["url"]
    except (requests.RequestException, RuntimeError, ValueError, TokenRefused) as exc:
        # The portal session ends anyway; Keycloak's ends at its own timeout.
        log.warning("Keycloak logout URL unavailable: %s", exc)
        return None
