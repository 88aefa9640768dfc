"""Who calls the API: bearer tokens only, never the session cookie.

- A Keycloak access token (production): client credentials of an API client, checked against the
  realm's published keys — signature, issuer, expiry, `typ` Bearer, `aud` naming this portal
  (MARSAD_OIDC_API_AUDIENCE, by default the portal's client id: Keycloak adds it with an audience
  mapper on the API clients) and an `azp` naming the client. Its claims become a Principal in
  services.identity.claims, as at login.
- A local API token `marsad_...` (demo and sandboxes only, `marsad tokens create --user U`): acts
  as that local account while the account is active.
"""
from __future__ import annotations

import dataclasses

from flask import current_app, g, request

from services import accounts
from services.identity import api_tokens
from services.identity.claims import ClaimsRefused, principal_from_claims
from services.identity.keycloak import TokenRefused
from services.policy import Principal, served_sandbox

from portal.api.errors import ApiError, unauthorized
from portal.runtime import db_session, runtime


def bearer_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def local_tokens_allowed() -> bool:
    config = current_app.config
    return bool(config.get("LOCAL_ACCOUNTS")) and config.get("MARSAD_ENV") != "production"


def _local(token: str) -> Principal:
    if not local_tokens_allowed():
        raise unauthorized("local API tokens are not accepted on this server; use a Keycloak access token")
    s = db_session()
    record = api_tokens.find(s, token)
    account = accounts.find(s, record.username) if record else None
    if account is None or not account.active:
        raise unauthorized("unknown, expired or revoked API token")
    return accounts.principal_of(account)


def _keycloak(token: str) -> Principal:
    from portal.oidc import keycloak

    kc = keycloak()
    if kc is None:
        raise unauthorized("this server accepts no Keycloak tokens (MARSAD_OIDC_ISSUER is not set)")
    try:
        claims = kc.realm.verify(token, audience=kc.api_audience, token_type="Bearer")
    except TokenRefused as exc:
        current_app.logger.info("API token refused (%s): %s", exc.code, exc.message)
        if exc.code == "keys_unavailable":
            raise ApiError(503, "the identity provider's keys cannot be fetched now; try again") from exc
        raise unauthorized(exc.message) from exc
    if not claims.get("azp"):
        raise unauthorized("the token names no authorized party (azp)")
    try:
        return principal_from_claims(claims, runtime().policies)
    except ClaimsRefused as exc:
        # A genuine token, but of no identity Marsad knows: authenticated, not authorised.
        raise ApiError(403, exc.message, code="no_identity") from exc


def api_principal() -> Principal:
    """The caller, authenticated once per request."""
    if "api_principal" not in g:
        token = bearer_token()
        if token is None:
            raise unauthorized("send a token: Authorization: Bearer <token>", code="no_token")
        principal = _local(token) if api_tokens.looks_local(token) else _keycloak(token)
        # Inside a sandbox portal the caller belongs to that sandbox, as a signed-in user does.
        g.api_principal = dataclasses.replace(principal, sandbox=served_sandbox())
    return g.api_principal
