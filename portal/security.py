"""Request hardening: CSRF tokens on every form, security headers on every response, login throttling."""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque

from flask import abort, current_app, request, session

CSRF_SESSION_KEY = "_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# No inline script or style anywhere: the templates only load /static files.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def csrf_token() -> str:
    """The session's token, created on first use; forms carry it in a hidden field."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_exempt(view):
    """For endpoints authenticated by a bearer token rather than the session cookie (the later API)."""
    view.csrf_exempt = True
    return view


def check_csrf() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "csrf_exempt", False):
        return
    expected = session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="csrf")


def add_security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # Pages show personal and institutional data: no shared or browser cache keeps them.
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    return response


class LoginThrottle:
    """At most `limit` login attempts per (client address, username) in `window` seconds.

    Kept in memory, so per process: behind gunicorn with N workers an attacker gets at most
    N times the limit, which still makes password guessing impractical.
    """

    MAX_KEYS = 50_000  # bounds memory under a flood of distinct usernames

    def __init__(self, limit: int = 10, window: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._attempts: dict[tuple[str, str], deque] = {}
        self._reported: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def _recent(self, key, now) -> deque:
        attempts = self._attempts.get(key)
        if attempts is None:
            return deque()
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        if not attempts:
            del self._attempts[key]
        return attempts

    def allow(self, address: str, username: str) -> bool:
        """Count one attempt; False when the limit is already reached (the attempt must not proceed)."""
        key = (address or "-", username.strip().casefold())
        now = self.clock()
        with self._lock:
            attempts = self._recent(key, now)
            if len(attempts) >= self.limit:
                return False
            if len(self._attempts) >= self.MAX_KEYS:
                self._attempts.pop(next(iter(self._attempts)))
            attempts.append(now)
            self._attempts[key] = attempts
            return True

    def first_refusal(self, address: str, username: str) -> bool:
        """True for the first refused attempt of (address, username) in a window: the one the audit
        trail records. A refused attempt costs the client nothing, so recording each would let a
        flood of them fill the trail."""
        key = (address or "-", username.strip().casefold())
        now = self.clock()
        with self._lock:
            last = self._reported.get(key)
            if last is not None and last > now - self.window:
                return False
            if len(self._reported) >= self.MAX_KEYS:
                self._reported.pop(next(iter(self._reported)))
            self._reported[key] = now
            return True

    def reset(self, address: str, username: str) -> None:
        key = (address or "-", username.strip().casefold())
        with self._lock:
            self._attempts.pop(key, None)
            self._reported.pop(key, None)


def init_app(app) -> None:
    app.before_request(check_csrf)
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["csrf_field"] = CSRF_FIELD
    app.extensions["login_throttle"] = LoginThrottle(limit=app.config["LOGIN_ATTEMPTS_PER_MINUTE"])
