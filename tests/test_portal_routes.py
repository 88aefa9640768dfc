"""Every route of the portal: signed out, a page sends to the login form; signed in, each view
asks the policy decision (checked here by a principal the policies do not know)."""
from __future__ import annotations

import pytest

from tests.portal_fixtures import (app, border_crossings_csv, client, crossing, csrf, login, logout,  # noqa: F401
                                   portal_engine, portal_env, upload)

PUBLIC = {"static", "health.healthz", "auth.login", "auth.logout",
          "oidc.login", "oidc.callback"}  # the Keycloak sign-in (portal/oidc.py) is a way in
SAMPLE_ARGS = {"submission_id": 1, "code": "border_crossings", "action": "approve"}


def routes(app):
    # The JSON API answers bearer tokens, not sessions: tests/test_api.py checks it route by route.
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint not in PUBLIC and not rule.endpoint.startswith("api.")]


def url_of(rule) -> str:
    return rule.build({k: SAMPLE_ARGS[k] for k in rule.arguments}, append_unknown=False)[1]


def test_every_route_needs_a_login(app, client):
    assert routes(app), "no routes found"
    for rule in routes(app):
        url = url_of(rule)
        if "GET" in rule.methods:
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": csrf(client)})
        assert response.status_code == 302 and response.location.startswith("/login"), (rule.endpoint, url)


def test_every_route_asks_the_policy(app, client):
    login(client, "mi-paf.submitter")
    assert upload(client, border_crossings_csv([crossing(1)])).location.endswith("/submissions/1")
    logout(client)
    # A principal whose institution the policies do not know: `decide` refuses it everything,
    # so any page that answers 200 would be one that never asked.
    with client.session_transaction() as sess:
        sess["principal"] = {"username": "ghost", "institution": "NOWHERE", "roles": ["admin"], "method": "test"}
    for rule in routes(app):
        url = url_of(rule)
        if "GET" in rule.methods:
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": csrf(client)})
        expected = 200 if rule.endpoint == "home.index" else 403  # home shows only what is allowed: nothing
        assert response.status_code == expected, (rule.endpoint, url, response.status_code)


@pytest.mark.parametrize("url", ["/submissions/999999", "/catalog/datasets/nope", "/catalog/codelists/nope"])
def test_unknown_things_are_not_found(client, url):
    login(client, "onm.onm_analyst")
    assert client.get(url).status_code == 404
