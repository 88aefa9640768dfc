"""Marsad portal: the Flask application.

`create_app()` reads the MARSAD_* environment (services.config: Settings, and PortalEnv for the settings
only the web tier has) and refuses to start in production on demo defaults.
"""
from __future__ import annotations

import datetime as dt

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from services.config import PortalEnv, Settings, section

MEGABYTE = 1024 * 1024

ERROR_MESSAGES = {
    400: _l("The request could not be understood. If you were sending a form, reload the page and try again."),
    401: _l("Sign in to continue."),
    403: _l("Your institution's agreement or your role does not allow this."),
    404: _l("There is nothing at this address."),
    405: _l("This address does not accept this kind of request."),
    413: _l("The file is larger than the portal accepts."),
    429: _l("Too many attempts. Wait a minute before trying again."),
    500: _l("Something went wrong on our side. The error has been logged."),
}


class ConfigurationRefused(RuntimeError):
    """Production configuration still on demo defaults."""


def portal_config(settings: Settings) -> dict:
    """Flask configuration from the environment; each setting has a safe default."""
    web = section(PortalEnv)
    return {
        "MARSAD_ENV": settings.env,
        "SECRET_KEY": settings.secret_key,
        "DATABASE_URL": settings.database_url,
        "LOCAL_ACCOUNTS": settings.local_accounts,
        # Secure cookies unless told otherwise: only the plain-HTTP demo sets MARSAD_COOKIE_SECURE=0.
        "SESSION_COOKIE_SECURE": web.cookie_secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "marsad_session",
        # Sessions live on the server (portal/sessions.py): these end them, unused and in any case.
        "SESSION_IDLE_LIFETIME": dt.timedelta(minutes=settings.session_idle_minutes),
        "PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=settings.session_hours),
        "MAX_CONTENT_LENGTH": web.max_upload_mb * MEGABYTE,
        "LOGIN_ATTEMPTS_PER_MINUTE": web.login_attempts_per_minute,
        "DEFAULT_LANGUAGE": web.default_language,
        "TIMEZONE": web.timezone,
        # Number of reverse proxies (nginx) in front: their X-Forwarded-* headers are then trusted.
        "TRUSTED_PROXIES": web.trusted_proxies,
    }


def refusals(settings: Settings, config: dict) -> list[str]:
    """Why this configuration may not serve production (empty outside production)."""
    if not settings.production:
        return []
    out = list(settings.problems())
    from portal.oidc import configuration_problems  # Keycloak settings (portal/oidc.py)

    out.extend(configuration_problems(config, production=True))
    if not config["SESSION_COOKIE_SECURE"]:
        out.append("MARSAD_COOKIE_SECURE=0: session cookies would travel over plain HTTP")
    return out


def create_app(config: dict | None = None) -> Flask:
    settings = section(Settings)
    app = Flask(__name__)
    app.config.update(portal_config(settings))
    app.config.update(config or {})
    problems = refusals(settings, app.config)
    if problems:
        raise ConfigurationRefused("refusing to start in production: " + "; ".join(problems))

    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.json.ensure_ascii = False  # Arabic readable in JSON answers

    from portal import i18n, runtime, security, sessions

    runtime.init_app(app, app.config)
    sessions.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_error_pages(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from portal import audit_log, auth, catalog, dashboard, health, home, partners, submissions, users

    for module in (auth, home, submissions, dashboard, catalog, health, partners, users, audit_log):
        app.register_blueprint(module.bp)

    # Keycloak sign-in (portal/oidc.py) and the JSON API (portal/api/) set themselves up from app.config.
    from portal import api, oidc

    oidc.init_app(app)
    api.init_app(app)


def _register_template_helpers(app: Flask) -> None:
    from portal.access import can, current_principal, own
    from portal.submissions import submittable_datasets

    app.jinja_env.globals.update(can=can, own=own, can_submit=lambda: bool(submittable_datasets()))

    @app.context_processor
    def _principal():
        return {"principal": current_principal()}


def _register_error_pages(app: Flask) -> None:
    def render_error(error: HTTPException):
        code = error.code or 500
        message = ERROR_MESSAGES.get(code, error.description)
        return render_template("errors/error.html", code=code, message=message), code

    for code in ERROR_MESSAGES:
        if code != 500:
            app.register_error_handler(code, render_error)

    @app.errorhandler(500)
    def _internal(error):
        return render_template("errors/error.html", code=500, message=ERROR_MESSAGES[500]), 500
