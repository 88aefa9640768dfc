"""The training pages of a sandbox's portal, and the portal of one sandbox.

Only a portal serving a training sandbox (`create_sandbox_app`, run by `marsad sandbox serve`)
has these pages:

- /exercises: a trainee's exercises (services/sandbox/exercises/), their own progress, their
  practice file, and the links the exercises need;
- /exercises/indicators/<code> and .../export.csv: an indicator table as the reader's level
  shows it (disclosure control applied) and its download. The real portal does not audit reads
  of aggregates; here both are recorded in the sandbox's audit trail, which is what exercises
  (c) and (d) are checked against;
- /progress: every trainee's progress on every exercise, for trainers only.

Sealing: every request of a sandbox portal runs within `services.policy.serving_sandbox(name)`,
so the resources the portal's views build live in the sandbox, and its principals carry the
sandbox (portal/auth.py stamps it at login): the policy decision keeps them in.
"""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from services import audit
from services.policy import Resource, decide, serving_sandbox
from services.sandbox.layout import Sandbox
from services.sandbox.training import PROTECTED_LEVELS, load_exercises, progress

from portal.access import current_principal, login_required, login_url
from portal.i18n import current_language
from portal.runtime import db_session, runtime

bp = Blueprint("progress", __name__)
EXTENSION = "marsad_sandbox"
ANSWER_KEYS = "answer-key"


def sandbox() -> Sandbox:
    return current_app.extensions[EXTENSION]


def is_trainer(principal) -> bool:
    """A trainer of this sandbox: its account lives here, and its role grants sandbox.manage.

    Sandboxes are managed from outside any sandbox (services.policy, rule 3): the role is asked
    about as the same account outside, for this sandbox. Nothing else is ever asked that way.
    """
    sb = sandbox()
    if principal is None or principal.sandbox != sb.name:
        return False
    return bool(decide(runtime().policies, replace(principal, sandbox=None), "sandbox.manage",
                       Resource("sandbox", sandbox=sb.name)))


@bp.route("/progress")
def trainer_view():
    principal = current_principal()
    if principal is None:
        return redirect(login_url())
    if not is_trainer(principal):
        abort(403)
    sb = sandbox()
    exercises = load_exercises()
    trainees = [a.username for a in sb.trainee_accounts()]
    table = progress(db_session(), trainees, exercises)
    done = {e.code: sum(table[t][e.code].state == "done" for t in trainees) for e in exercises}
    return render_template("progress/trainer.html", sb=sb, exercises=exercises, trainees=trainees, table=table,
                           done=done, lang=current_language())


@bp.route("/exercises")
@login_required
def trainee_view():
    principal, sb = current_principal(), sandbox()
    exercises = load_exercises()
    mine = progress(db_session(), [principal.username], exercises)[principal.username] \
        if sb.account(principal.username) and sb.account(principal.username).kind == "trainee" else None
    practice = sb.content.get("practice", {})
    has_file = (sb.files_dir / principal.username / practice.get("file", "-")).is_file()
    roleplay = [a for a in sb.accounts if a.kind == "roleplay"]
    return render_template("progress/exercises.html", sb=sb, exercises=exercises, mine=mine, practice=practice,
                           has_file=has_file, roleplay=roleplay, trainer=is_trainer(principal),
                           lang=current_language())


@bp.route("/exercises/files/<username>/<path:filename>")
@login_required
def practice_file(username: str, filename: str):
    """A trainee's own practice file; trainers get any, answer keys included."""
    principal, sb = current_principal(), sandbox()
    own = principal.username == username and not filename.startswith(ANSWER_KEYS + "/")
    if not (own or is_trainer(principal)) or sb.account(username) is None:
        abort(404)
    return send_from_directory(sb.files_dir / username, filename, as_attachment=True)


# --- indicator tables under disclosure control --------------------------------------------------

def _protected_table(code: str):
    """(indicator, table as the principal may see it, read level, breakdown) or an HTTP error."""
    from services.disclosure import protect_for
    from services.indicators import ReleaseError, default_indicators, query, query_release

    principal, rt, sb = current_principal(), runtime(), sandbox()
    indicator = default_indicators().get(code)
    if indicator is None:
        abort(404)
    answer = decide(rt.policies, principal, "indicator.read", Resource("indicator", dataset=indicator.dataset))
    if not answer:
        abort(403)
    dims = tuple(indicator.dimension_names)
    default = "nationality" if "nationality" in dims else dims[0]
    by = tuple(d for d in request.args.get("by", default).split(",") if d)
    if not by or any(d not in dims for d in by) or len(by) > 2:
        abort(400)
    year = request.args.get("year", type=int) or sb.content.get("data_year")
    filters = {"year": year} if year else {}
    try:
        if answer.level == "published":  # published readers see releases only, as in the API
            table = query_release(rt.engine, code, filters, by, principal=principal, policies=rt.policies)
        else:
            table = query(rt.engine, code, filters, by)
    except ReleaseError:
        abort(404)
    except (KeyError, ValueError):
        abort(400)
    return indicator, protect_for(table, answer.level, rt.policies.settings.min_cell_count), answer.level, by


def _record(action: str, code: str, table, level: str, by, **details) -> None:
    principal = current_principal()
    suppressed = sum(1 for flag in table.flags.values() if flag)
    audit.record(db_session(), actor=principal.username, institution=principal.institution, action=action,
                 target=f"indicator:{code}", details={"indicator": code, "level": level, "by": list(by),
                                                      "year": table.meta.get("year"), "suppressed": suppressed,
                                                      **details})


def _label(indicator, dim: str, value, lang: str) -> str:
    from services.indicators.definitions import UNKNOWN
    from services.indicators.table import TOTAL

    words = {TOTAL: {"ar": "المجموع", "fr": "Total", "en": "Total"},
             UNKNOWN: {"ar": "غير معروف", "fr": "Inconnu", "en": "Unknown"}}
    value = str(value)
    if value in words:
        return words[value][lang]
    if dim in ("year", "month"):
        return value
    d = indicator.dimension(dim)
    if value in d.codes:
        return d.codes[value].get(lang) or value
    if d.codelist:
        return runtime().catalog.codelists[d.codelist].label(value, lang)
    return value


@bp.route("/exercises/indicators/<code>")
@login_required
def indicator_table(code: str):
    indicator, table, level, by = _protected_table(code)
    _record("indicator.read", code, table, level, by)
    lang = current_language()
    rows = [([_label(indicator, d, v, lang) for d, v in zip(table.dimensions, key)], value, flag)
            for *key, value, flag in table.rows()]
    names = {d: indicator.dimension_label(d, runtime().catalog).get(lang, d) for d in indicator.dimension_names}
    return render_template("progress/indicator.html", indicator=indicator, table=table, rows=rows, level=level,
                           by=by, protected=level in PROTECTED_LEVELS, lang=lang, dimensions=names,
                           headings=[names.get(d, d) for d in table.dimensions])


@bp.route("/exercises/indicators/<code>/export.csv")
@login_required
def indicator_export(code: str):
    from services.exports import to_csv

    indicator, table, level, by = _protected_table(code)
    lang = current_language()
    data = to_csv(table, lang)
    _record("indicator.export", code, table, level, by, format="csv")
    return Response(data, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="marsad-{code}-{"-".join(by)}-{lang}.csv"'})


# --- the portal of one sandbox ------------------------------------------------------------------

class _Sealed:
    """WSGI wrapper: the whole request (views, error pages) runs as sandbox `name`'s."""

    def __init__(self, wsgi_app, name: str):
        self.wsgi_app, self.name = wsgi_app, name

    def __call__(self, environ, start_response):
        with serving_sandbox(self.name):
            return self.wsgi_app(environ, start_response)


def create_sandbox_app(sb: Sandbox, *, engine=None, store=None, **config):
    """The portal of sandbox `sb`: the full portal, sealed into the sandbox, plus the training pages.

    Without `engine` and `store` they come from the environment, which must then be the
    sandbox's own (services.sandbox.environ, as `marsad sandbox serve` sets it): a sandbox
    portal never opens a database it was not given for that sandbox.
    """
    from services import db
    from services.storage import store_from_env

    from portal import create_app

    if engine is None or store is None:
        from services.config import SandboxEnv, section, settings

        core = settings()
        if section(SandboxEnv).sandbox != sb.name or core.env != "sandbox":
            raise RuntimeError(f"the environment is not sandbox {sb.name}'s (services.sandbox.environ)")
        engine = engine or db.make_engine(core.database_url)
        store = store or store_from_env()
    app = create_app({
        "MARSAD_ENV": "sandbox", "SANDBOX": sb.name, "ENGINE": engine, "STORE": store,
        "DATABASE_URL": engine.url.render_as_string(hide_password=True),
        "SECRET_KEY": sb.secret_key, "LOCAL_ACCOUNTS": True,
        # Behind a TLS front (target lab) cookies are secure; on its own port, plain HTTP.
        "SESSION_COOKIE_SECURE": sb.public_url.startswith("https://"),
        # Cookies ignore ports: sandboxes served from one host need a cookie name each, and
        # behind a front they stay under their own path.
        "SESSION_COOKIE_NAME": f"marsad_sbx_{sb.name}",
        "SESSION_COOKIE_PATH": sb.url_prefix.rstrip("/") or None,
        "TRUSTED_PROXIES": 1 if sb.url_prefix else 0,
        **config,
    })
    app.extensions[EXTENSION] = sb
    app.register_blueprint(bp)
    if sb.url_prefix:
        # Behind a front that passes the whole path on: the prefix moves to SCRIPT_NAME, so every
        # URL the portal makes carries it; a path outside it is not this sandbox's (404).
        app.wsgi_app = DispatcherMiddleware(NotFound(), {sb.url_prefix.rstrip("/"): app.wsgi_app})
    app.wsgi_app = _Sealed(app.wsgi_app, sb.name)
    return app
