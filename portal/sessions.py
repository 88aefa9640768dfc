"""Portal sessions kept on the server, in the deployment's own database (table portal_session).

Flask's default session lives in a signed cookie, so nothing on the server can end it: a copied
cookie kept working after logout. Here the cookie holds only a random id, and a session ends for
good when its row goes:

- at logout, and whenever who is signed in changes (sign in, sign out): the old id is deleted and
  a new one issued, so an id known before signing in (session fixation) or copied before signing
  out opens nothing;
- when the account is deactivated, its roles or its password change (`revoke_user`, called by the
  user directory in the same transaction as the change);
- after SESSION_IDLE_LIFETIME without a request, and PERMANENT_SESSION_LIFETIME after it began,
  however busy (MARSAD_SESSION_IDLE_MINUTES, MARSAD_SESSION_HOURS).

The cookie is sent when a session starts, not with every answer; its Secure, HttpOnly and
SameSite flags come from the usual SESSION_COOKIE_* settings.

Why not Flask-Session: its SQLAlchemy backend needs Flask-SQLAlchemy (the portal has its own
engine and SQLModel sessions), creates its table outside the Alembic migrations, keys rows by
session id only (ending every session of one user would mean decoding them all), and knows one
lifetime, not an idle and an absolute one. A small table with the username beside the id does all
of that in one indexed DELETE.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time

from flask import request
from flask.sessions import SessionInterface, SessionMixin, session_json_serializer
from sqlalchemy import delete, insert, or_, select, update

from services.models import PortalSession, utcnow

from portal.access import SESSION_KEY
from portal.runtime import runtime

TABLE = PortalSession.__table__
ID_BYTES = 32            # 256 random bits
TOUCH_EVERY = dt.timedelta(seconds=60)   # last_seen is written at most this often, not on every request
PURGE_EVERY = 300.0      # seconds between two sweeps of ended sessions, per process


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def _owner(data) -> str | None:
    principal = data.get(SESSION_KEY)
    return principal.get("username") if isinstance(principal, dict) else None


def revoke_user(db, username: str) -> None:
    """End every session of `username`; committed with the caller's transaction (`db`: an ORM session)."""
    db.execute(delete(TABLE).where(TABLE.c.username == username))


class ServerSession(dict, SessionMixin):
    """The session's values; `sid` is None until it is first saved (a new session)."""

    def __init__(self, data=None, *, sid=None, stored=None, created_at=None, last_seen=None):
        super().__init__(data or {})
        self.sid, self.stored = sid, stored
        self.owner = _owner(self)   # who was signed in when it was opened
        self.created_at, self.last_seen = created_at, last_seen


class ServerSessionInterface(SessionInterface):
    session_class = ServerSession
    serializer = session_json_serializer   # Flask's tagged JSON: what the cookie session stored

    def __init__(self):
        self._purged_at = float("-inf")

    @staticmethod
    def lifetimes(app) -> tuple[dt.timedelta, dt.timedelta]:
        return app.config["SESSION_IDLE_LIFETIME"], app.config["PERMANENT_SESSION_LIFETIME"]

    def open_session(self, app, req):
        sid = req.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 128:
            return ServerSession()
        engine = runtime().engine
        with engine.connect() as conn:
            row = conn.execute(select(TABLE).where(TABLE.c.id == _digest(sid))).first()
        if row is None:
            return ServerSession()
        idle, absolute = self.lifetimes(app)
        now = utcnow()
        created_at, last_seen = _aware(row.created_at), _aware(row.last_seen)
        if now - last_seen >= idle or now - created_at >= absolute:
            with engine.begin() as conn:
                conn.execute(delete(TABLE).where(TABLE.c.id == row.id))
            return ServerSession()
        return ServerSession(self.serializer.loads(row.data), sid=sid, stored=row.data,
                             created_at=created_at, last_seen=last_seen)

    def save_session(self, app, session, response):
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        owner = _owner(session)
        statements = []
        if session.sid is not None and (owner != session.owner or not session):
            # Signed in, signed out, or emptied: this id ends here.
            statements.append(delete(TABLE).where(TABLE.c.id == _digest(session.sid)))
            session.sid = None
        now = utcnow()
        new_sid = None
        if session:
            data = self.serializer.dumps(dict(session))
            if session.sid is None:
                new_sid = secrets.token_urlsafe(ID_BYTES)
                statements.append(insert(TABLE).values(id=_digest(new_sid), username=owner, created_at=now,
                                                       last_seen=now, data=data))
                statements.extend(self._purge(app, now))
            elif data != session.stored or now - session.last_seen >= min(TOUCH_EVERY, self.lifetimes(app)[0] / 4):
                statements.append(update(TABLE).where(TABLE.c.id == _digest(session.sid))
                                  .values(data=data, last_seen=now))
        if statements:
            with runtime().engine.begin() as conn:
                for statement in statements:
                    conn.execute(statement)
        response.vary.add("Cookie")
        if new_sid is not None:
            response.set_cookie(name, new_sid, expires=now + self.lifetimes(app)[1], domain=domain, path=path,
                                httponly=self.get_cookie_httponly(app), secure=self.get_cookie_secure(app),
                                samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app))
        elif not session and name in request.cookies:
            response.delete_cookie(name, domain=domain, path=path, secure=self.get_cookie_secure(app),
                                   httponly=self.get_cookie_httponly(app), samesite=self.get_cookie_samesite(app),
                                   partitioned=self.get_cookie_partitioned(app))

    def _purge(self, app, now: dt.datetime) -> list:
        """Rows of sessions that ended without a logout, swept now and then as new sessions start."""
        if time.monotonic() - self._purged_at < PURGE_EVERY:
            return []
        self._purged_at = time.monotonic()
        idle, absolute = self.lifetimes(app)
        return [delete(TABLE).where(or_(TABLE.c.last_seen <= now - idle, TABLE.c.created_at <= now - absolute))]


def init_app(app) -> None:
    app.session_interface = ServerSessionInterface()
