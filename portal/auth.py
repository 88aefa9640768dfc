"""Signing in and out.

Local accounts (demo, sandboxes, offline sites) are served here when MARSAD_LOCAL_ACCOUNTS
allows them. The Keycloak (OpenID Connect) login is a second method beside it (portal/oidc.py):
it builds a Principal from the token and calls `access.sign_in(principal, "oidc")`.
"""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from services import accounts, audit
from services.languages import LANGUAGES
from services.policy import served_sandbox

from portal.access import (
    checked_next, current_principal, local_accounts_enabled, login_method, safe_next, sign_in, sign_out,
)
from portal.oidc import end_session_url
from portal.runtime import db_session

bp = Blueprint("auth", __name__)


@bp.before_app_request
def _drop_disabled_local_sessions():
    """A local account disabled or removed loses its open sessions at the next request."""
    if login_method() != "local" or request.endpoint in ("static", "health.healthz"):
        return
    principal = current_principal()
    account = accounts.find(db_session(), principal.username) if principal else None
    if account is None or not account.active or not local_accounts_enabled():
        sign_out()


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = checked_next(request.values.get("next"))  # never echoed into the page unchecked
    if request.method == "GET":
        if current_principal() is not None:
            return redirect(safe_next(next_url))
        return render_template("auth/login.html", next_url=next_url, local=local_accounts_enabled())
    if not local_accounts_enabled():
        abort(404)

    username = request.form.get("username", "").strip()[:128]
    password = request.form.get("password", "")
    address = request.remote_addr or "-"
    throttle = current_app.extensions["login_throttle"]
    if not throttle.allow(address, username):
        if throttle.first_refusal(address, username):
            audit.record(db_session(), actor=username or "-", action="auth.login.throttled",
                         details={"method": "local", "address": address,
                                  "limit": f"{throttle.limit} attempts in {throttle.window:g} s"})
        flash(_("Too many attempts. Wait a minute before trying again."), "error")
        return render_template("auth/login.html", next_url=next_url, local=True, username=username), 429

    s = db_session()
    principal = accounts.authenticate(s, username, password) if username and password else None
    if principal is None:
        audit.record(s, actor=username or "-", action="auth.login.failed", details={"address": address})
        flash(_("Unknown username or wrong password."), "error")
        return render_template("auth/login.html", next_url=next_url, local=True, username=username), 401

    throttle.reset(address, username)
    # An account of a sandbox's database is a principal of that sandbox: the policy seals it in
    # (None in the real system, where this changes nothing).
    principal = replace(principal, sandbox=served_sandbox())
    sign_in(principal, "local")
    if "lang" not in session:  # the account's language, unless one was chosen before signing in
        account = accounts.find(s, principal.username)
        if account is not None and account.language in LANGUAGES:
            session["lang"] = account.language
    audit.record(s, actor=principal.username, institution=principal.institution, action="auth.login",
                 details={"method": "local", "address": address})
    return redirect(safe_next(next_url))


@bp.route("/logout", methods=["POST"])
def logout():
    principal = current_principal()
    if principal is not None:
        audit.record(db_session(), actor=principal.username, institution=principal.institution,
                     action="auth.logout")
    # Signed in through Keycloak: end Keycloak's session too, which then sends the browser back here.
    keycloak_logout = end_session_url()
    sign_out()
    flash(_("You are signed out."), "info")
    return redirect(keycloak_logout or url_for("auth.login"))
