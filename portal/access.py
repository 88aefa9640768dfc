"""Who is asking, and whether they may: the current principal and the policy check every view makes.

The principal lives in the session as plain values (username, institution, roles, unit) plus
the login method. A login method — local accounts today, Keycloak over OpenID Connect later —
only has to build a `Principal` and call `sign_in`; every view then asks
`services.policy.decide` through `require` or `check`, never tests roles itself.
"""
from __future__ import annotations

import logging
import unicodedata
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request, session, url_for

from services.policy import Principal, Resource, acting_institution, decide, served_sandbox

from portal.runtime import runtime

log = logging.getLogger(__name__)

SESSION_KEY = "principal"
KEPT_ACROSS_LOGIN = ("lang",)  # what survives the session being cleared at login and logout


# --- signing in: what both methods (portal/auth.py, portal/oidc.py) share ------------------

def local_accounts_enabled() -> bool:
    return bool(current_app.config["LOCAL_ACCOUNTS"])


# Control characters, invisible format marks and spaces: browsers drop tab, CR and LF anywhere in a
# URL (and leading spaces), so what is judged is the target without any of them.
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def checked_next(target: str | None) -> str | None:
    """`target` if it is a path on this portal, else None: an open redirect after login would make phishing easy.

    Read as a browser reads a Location: without invisible characters, with backslashes as slashes,
    and in compatibility form too (NFKC: a fullwidth solidus is a slash to some software). Only a
    path beginning with one slash passes, under the prefix this portal is served at (a sandbox's).
    """
    if not target:
        return None
    visible = "".join(ch for ch in target if unicodedata.category(ch) not in _INVISIBLE)
    for form in {visible, unicodedata.normalize("NFKC", visible)}:
        read = form.replace("\\", "/")
        try:
            parts = urlsplit(read)
        except ValueError:  # e.g. "//[::1": not a URL at all
            return None
        if not read.startswith("/") or read.startswith("//") or parts.scheme or parts.netloc:
            return None
    root = request.script_root
    if root and visible != root and not visible.startswith(root + "/"):
        return None
    return visible


def safe_next(target: str | None) -> str:
    """Where to go after signing in: `target` if it is a path on this portal, else the home page."""
    return checked_next(target) or url_for("home.index")


def sign_in(principal: Principal, method: str) -> None:
    """Start a fresh session for `principal` (a new session at login defeats session fixation)."""
    kept = {k: session[k] for k in KEPT_ACROSS_LOGIN if k in session}
    session.clear()
    session.update(kept)
    session[SESSION_KEY] = {
        "username": principal.username,
        "institution": principal.institution,
        "roles": sorted(principal.roles),
        "unit": principal.unit,
        "sandbox": principal.sandbox,
        "method": method,
    }
    session.permanent = True


def sign_out() -> None:
    kept = {k: session[k] for k in KEPT_ACROSS_LOGIN if k in session}
    session.clear()
    session.update(kept)


def login_method() -> str | None:
    data = session.get(SESSION_KEY)
    return data.get("method") if isinstance(data, dict) else None


def current_principal() -> Principal | None:
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        principal = Principal(username=data["username"], institution=data["institution"],
                              roles=frozenset(data["roles"]), unit=data.get("unit"), sandbox=data.get("sandbox"))
    except (KeyError, TypeError):
        return None
    # A session opened in another sandbox, or in the real system, is not signed in here (the policy
    # would deny it everything anyway; this keeps it from appearing signed in).
    if principal.sandbox != served_sandbox():
        return None
    return principal


def acting_as() -> str | None:
    """The institution whose agreement applies: the principal's unit if it has one, else its institution."""
    principal = current_principal()
    if principal is None:
        return None
    return acting_institution(runtime().policies, principal) or principal.institution


def own(kind: str) -> Resource:
    """A resource of `kind` belonging to the principal's own institution: the default a view asks about."""
    # The resource's sandbox is the one this portal serves, if any (services.policy.served_sandbox).
    return Resource(kind, institution=acting_as())


def decision(action: str, resource: Resource | None = None):
    principal = current_principal()
    if principal is None:
        return None
    return decide(runtime().policies, principal, action, resource or own(action.split(".", 1)[0]))


def can(action: str, resource: Resource | None = None) -> bool:
    """For templates and views: whether to show a link or a button (the view still checks)."""
    return bool(decision(action, resource))


def check(action: str, resource: Resource | None = None) -> None:
    """Abort with 403 unless the policy allows `action` on `resource`."""
    answer = decision(action, resource)
    if not answer:
        principal = current_principal()
        log.info("denied %s to %s on %s: %s", action, principal and principal.username, resource,
                 getattr(answer, "reason", "not signed in"))
        abort(403)


def login_url():
    # The whole path back, with the prefix a front serves the portal under (sandboxes: /sandbox/NAME).
    target = request.script_root + (request.full_path if request.query_string else request.path)
    return url_for("auth.login", next=target)


def login_required(view):
    """For views whose every part is gated separately (the home page)."""
    @wraps(view)
    def wrapped(**kwargs):
        if current_principal() is None:
            return redirect(login_url())
        return view(**kwargs)
    return wrapped


def require(action: str, resource_fn=None):
    """Decorate a view: signed in, and the policy allows `action` on the resource.

    `resource_fn(**view_kwargs)` returns the Resource (and may abort 404 when the thing does not
    exist); without it the resource is the principal's own institution's.
    """
    def decorator(view):
        @wraps(view)
        def wrapped(**kwargs):
            if current_principal() is None:
                return redirect(login_url())
            resource = resource_fn(**kwargs) if resource_fn else None
            check(action, resource)
            return view(**kwargs)
        return wrapped
    return decorator
