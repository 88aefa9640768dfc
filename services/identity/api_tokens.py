"""Local API tokens: bearer tokens for the demo and training sandboxes, where there is no Keycloak.

A token acts as the local account it was made for (`marsad tokens create --user U`), so it loses
its power when the account is disabled. Only a SHA-256 of the token is stored: the token is shown
once, at creation, and a copy of the database gives nobody a usable token. (A fast hash is
enough here: tokens are 256 random bits, nothing a dictionary attack could guess.)
Production authenticates API clients with Keycloak client-credentials tokens instead.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlmodel import Field, Session, SQLModel, select

from services.models import utcnow

PREFIX = "marsad_"   # tells a local token from a Keycloak JWT at a glance, and lets secret scanners spot it
SHOWN = 12           # characters kept in clear (prefix included) to recognise a token in a list


class ApiToken(SQLModel, table=True):
    """A local API token: the hash, never the token."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    shown: str = Field(max_length=16)                 # the first characters, for `marsad tokens list`
    username: str = Field(max_length=128, index=True)
    label: str = Field(default="", max_length=255)
    created_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_local(token: str) -> bool:
    return token.startswith(PREFIX)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite may hand back naive datetimes; they were written in UTC.
    return moment.replace(tzinfo=dt.timezone.utc) if moment is not None and moment.tzinfo is None else moment


def issue(session: Session, username: str, *, label: str = "", days: int | None = None) -> tuple[str, ApiToken]:
    """A new token for `username`: (the token, shown this once; its stored record)."""
    token = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(token_hash=token_hash(token), shown=token[:SHOWN], username=username, label=label[:255],
                      expires_at=utcnow() + dt.timedelta(days=days) if days else None)
    session.add(record)
    session.commit()
    return token, record


def find(session: Session, token: str, *, touch: bool = True) -> ApiToken | None:
    """The live record of `token`: not revoked, not expired; None otherwise."""
    if not looks_local(token):
        return None
    digest = token_hash(token)
    record = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    # The lookup is by hash; compare again in constant time so a near-miss tells an attacker nothing.
    if record is None or not hmac.compare_digest(record.token_hash, digest) or record.revoked_at is not None:
        return None
    now = utcnow()
    if record.expires_at is not None and _aware(record.expires_at) <= now:
        return None
    last = _aware(record.last_used_at)
    if touch and (last is None or now - last > dt.timedelta(minutes=5)):  # one write per 5 minutes, not per call
        record.last_used_at = now
        session.add(record)
        session.commit()
    return record


def revoke(session: Session, token_id: int) -> ApiToken | None:
    record = session.get(ApiToken, token_id)
    if record is not None and record.revoked_at is None:
        record.revoked_at = utcnow()
        session.add(record)
        session.commit()
    return record


def listed(session: Session, username: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if username:
        query = query.where(ApiToken.username == username)
    return list(session.exec(query))
