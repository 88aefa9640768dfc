"""The JSON API, /api/v1: every route comes from the table in portal/api/routes.py, which also
generates /api/v1/openapi.json.

Bearer tokens only (portal/api/bearer.py): the API neither reads nor sets the session cookie, so
a browser's session cannot be ridden by a cross-site request and CSRF tokens are not needed
(the views are `csrf_exempt`). Errors are JSON `{error, message}` (portal/api/errors.py).
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, g, request
from flask.sessions import SessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter, Rule

from portal.api.errors import CODES, ApiError, error_response, http_error_response
from portal.security import csrf_exempt

PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)


def _guarded(route):
    """The view behind the route's policy question: authenticate, ask `decide`, run, answer JSON."""
    from portal.api.bearer import api_principal
    from portal.api.views import check

    query = [p for p in route.params if p.where == "query"]
    path = [p for p in route.params if p.where == "path" and p.type == "integer"]

    @wraps(route.view)
    def view(**kwargs):
        for p in path:   # a number past its column's range names nothing
            if not p.minimum <= kwargs[p.name] <= p.maximum:
                raise ApiError(404, f"no {p.name.replace('_id', '')} {kwargs[p.name]}")
        if not route.public:
            api_principal()
            # Every declared parameter is checked before the view touches anything (the upload's file
            # included); views read the typed values from g.api_params.
            g.api_params = {p.name: p.value(request.args.getlist(p.name)) for p in query if p.name in request.args}
            if route.action is not None:
                resource = route.resource(**kwargs) if route.resource else None
                if resource is not None:
                    check(route.action, resource)
        return route.view(**kwargs)
    return csrf_exempt(view)


def _register_routes() -> None:
    from portal.api.routes import ROUTES

    for route in ROUTES:
        # No automatic OPTIONS: `unrouted` answers it, in JSON like every other answer here.
        bp.add_url_rule(route.rule, route.endpoint, _guarded(route), methods=[route.method],
                        provide_automatic_options=False)


# The methods the routes use: `unrouted` lists those a path takes when asked another.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class AnyPath(PathConverter):
    """A path, newlines and all (werkzeug's `path` stops at a newline: the rest fell to an HTML 404)."""
    regex = r"[\s\S]*"
    part_isolating = False   # spans slashes (werkzeug guesses from a "/" in the regex)


def unrouted(rest: str = ""):
    """Anything else under /api/: a JSON 404, or 405 (204 for OPTIONS) when the path exists for other methods."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            rule, _args = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint != "api.unrouted":
            allowed.append(method)
    if allowed:
        headers = {"Allow": ", ".join(allowed + ["OPTIONS"])}
        if request.method == "OPTIONS":
            return current_app.response_class(status=204, headers=headers, mimetype="application/json")
        raise ApiError(405, f"{request.method} is not allowed here; use {', '.join(allowed)}", headers=headers)
    raise ApiError(404, f"no API route {request.path[:200]!r}; see {PREFIX}/openapi.json")


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error_response(error)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return http_error_response(error)


# Flask prefers a handler registered for the status code (the app's HTML error pages) over one
# registered for HTTPException, even on a blueprint: register ours per code too.
for _status in CODES:
    bp.register_error_handler(_status, _http_error)


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Authorization")
    return response


class SessionlessApi(SessionInterface):
    """The app's session interface, except under /api/v1: an empty session, never read nor saved.

    Guarantees the API ignores a session cookie a browser may send (no ambient authority) and
    never sets one, whatever a before_request hook elsewhere does with `session`.
    """

    def __init__(self, inner: SessionInterface, prefix: str):
        self.inner, self.prefix = inner, prefix

    def _api(self, req) -> bool:
        return req.path == self.prefix or req.path.startswith(self.prefix + "/")

    def open_session(self, app, req):
        if self._api(req):
            return self.inner.session_class() if hasattr(self.inner, "session_class") else None
        return self.inner.open_session(app, req)

    def save_session(self, app, session, response):
        if self._api(request):
            return None
        return self.inner.save_session(app, session, response)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def make_null_session(self, app):
        return self.inner.make_null_session(app)

    def is_null_session(self, obj) -> bool:
        return self.inner.is_null_session(obj)


def init_app(app) -> None:
    app.session_interface = SessionlessApi(app.session_interface, PREFIX)
    app.register_blueprint(bp)
    # Everything under /api/ that no route takes, this version's or not, newline or odd method: the
    # endpoint is the blueprint's, so its JSON error handlers answer (a rule outside any blueprint
    # would get the app's HTML pages).
    # Added to the map itself: a werkzeug Rule without `methods` takes every method (TRACE, PROPFIND...).
    app.url_map.converters["anypath"] = AnyPath
    for rule in ("/api", "/api/<anypath:rest>"):
        app.url_map.add(Rule(rule, endpoint="api.unrouted", strict_slashes=False))
    app.view_functions["api.unrouted"] = csrf_exempt(unrouted)


_register_routes()

__all__ = ["bp", "init_app", "PREFIX"]
