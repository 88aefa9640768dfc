"""A Keycloak realm as the portal and the API see it: its discovery document, its published signing
keys, and the checks every token it issued must pass before anything reads its claims.

The portal's login checks the ID token through Authlib (portal/oidc.py); this module checks the
access tokens: the one the login returns, and the bearer tokens API clients send.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

# Only asymmetric algorithms: a realm signs with its private key, and an HMAC "signature" made
# with the public key (the classic algorithm-confusion forgery) must not verify.
ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
LEEWAY_SECONDS = 60           # clock skew tolerated between Keycloak and the portal
KEY_REFRESH_MIN_SECONDS = 30  # an unknown key id refetches the keys, at most this often (no fetch storms)


class TokenRefused(ValueError):
    """The token may not be used; `code` is stable, `message` says why in English."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def well_known_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class Realm:
    """One issuer: discovery document and keys fetched on first use and cached in the process."""

    def __init__(self, issuer: str, *, timeout: float = 10.0, leeway: int = LEEWAY_SECONDS):
        self.issuer = issuer.rstrip("/")
        self.timeout = timeout
        self.leeway = leeway
        self._metadata: dict | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = threading.Lock()

    def _get(self, url: str) -> dict:
        response = requests.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()

    @property
    def metadata(self) -> dict:
        if self._metadata is None:
            data = self._get(well_known_url(self.issuer))
            # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer we asked.
            if data.get("issuer") != self.issuer:
                raise TokenRefused("issuer_mismatch", f"the discovery document names issuer {data.get('issuer')!r}, "
                                                      f"not {self.issuer!r}")
            self._metadata = data
        return self._metadata

    def keys(self, refresh: bool = False) -> KeySet:
        with self._lock:
            stale = refresh and time.monotonic() - self._keys_at >= KEY_REFRESH_MIN_SECONDS
            if self._keys is None or stale:
                self._keys = KeySet.import_key_set(self._get(self.metadata["jwks_uri"]))
                self._keys_at = time.monotonic()
            return self._keys

    def _decode(self, token: str):
        try:
            return jwt.decode(token, self.keys(), algorithms=ASYMMETRIC_ALGORITHMS)
        except InvalidKeyIdError:
            # Keycloak rotated its keys since we fetched them.
            return jwt.decode(token, self.keys(refresh=True), algorithms=ASYMMETRIC_ALGORITHMS)

    def verify(self, token: str, *, audience: str | None = None, authorized_party: str | None = None,
               token_type: str | None = "Bearer") -> dict[str, Any]:
        """The claims of `token` once signature, issuer, expiry and the asked audience/azp/typ all hold."""
        if not isinstance(token, str) or token.count(".") != 2:
            raise TokenRefused("malformed", "not a signed JWT")
        try:
            decoded = self._decode(token)
        except requests.RequestException as exc:
            raise TokenRefused("keys_unavailable", f"the realm's keys could not be fetched: {exc}") from exc
        except JoseError as exc:
            raise TokenRefused("bad_signature", f"signature not verified with the realm's keys ({exc.error})") from exc
        except ValueError as exc:  # undecodable base64 or JSON
            raise TokenRefused("malformed", f"not a signed JWT ({exc})") from exc
        claims = decoded.claims
        options: dict[str, dict] = {"iss": {"essential": True, "value": self.issuer}, "exp": {"essential": True}}
        if audience is not None:
            options["aud"] = {"essential": True, "value": audience}
        try:
            jwt.JWTClaimsRegistry(leeway=self.leeway, **options).validate(claims)
        except ExpiredTokenError as exc:
            raise TokenRefused("expired", "the token has expired") from exc
        except JoseError as exc:
            code = {"aud": "wrong_audience", "iss": "wrong_issuer"}.get(getattr(exc, "claim", ""), "bad_claims")
            raise TokenRefused(code, exc.description or exc.error) from exc
        if token_type is not None and claims.get("typ") != token_type:
            raise TokenRefused("wrong_type", f"a {claims.get('typ') or 'untyped'} token where a {token_type} token "
                                             "is expected")
        if authorized_party is not None and claims.get("azp") != authorized_party:
            raise TokenRefused("wrong_party", f"issued to {claims.get('azp')!r}, not {authorized_party!r}")
        return dict(claims)
