"""Shared fixtures.

Real servers are session-scoped and started lazily: a run that needs no database or
S3 starts neither. A test that asks for one gets the ``postgres`` or ``s3`` marker, so
``pytest -m "not postgres and not s3"`` runs the quick subset. Fixtures that pick a
backend by parameter (``request.getfixturevalue``) count too when the parameter value is
``"postgres"`` or ``"s3"``.
"""

from __future__ import annotations

import secrets

import pytest

from services.storage import LocalStore, S3Store
from tests.keycloak_realm import realm_for_session
from tests.keycloak_server import KeycloakServer
from tests.servers import PostgresServer, SeaweedServer, ServerBinaryMissing

_SERVER_MARKERS = {"postgres": "postgres", "postgres_url": "postgres", "s3": "s3", "s3_store": "s3",
                   "keycloak": "keycloak", "keycloak_realm": "keycloak"}


def pytest_collection_modifyitems(items):
    for item in items:
        needs = {_SERVER_MARKERS[f] for f in getattr(item, "fixturenames", ()) if f in _SERVER_MARKERS}
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            needs |= {v for v in callspec.params.values()
                      if isinstance(v, str) and v in ("postgres", "s3", "keycloak")}
        for marker in needs:
            item.add_marker(marker)


def _started(server_class):
    # A missing server is a failure, not a skip: CI installs it (`make test-deps`), so a
    # skip would hide that a whole layer went untested.
    try:
        return server_class().start()
    except ServerBinaryMissing as exc:
        pytest.fail(str(exc), pytrace=False)


# --- PostgreSQL --------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the session (``tests.servers.PostgresServer``)."""
    server = _started(PostgresServer)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres) -> str:
    """SQLAlchemy URL of the session's ``marsad`` database."""
    return postgres.url


# --- object store ------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3():
    """A SeaweedFS S3 server for the session (``tests.servers.SeaweedServer``)."""
    server = _started(SeaweedServer)
    yield server
    server.stop()


@pytest.fixture
def local_store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "objects")


@pytest.fixture
def s3_store(s3):
    """An S3Store whose buckets (own prefix per test) are removed afterwards."""
    prefix = f"t{secrets.token_hex(4)}"
    yield S3Store(s3.endpoint, s3.access_key, s3.secret_key, secure=False, bucket_prefix=prefix)
    s3.remove_buckets(prefix + "-")


# --- Keycloak ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def keycloak():
    """A Keycloak server for the session (``tests.keycloak_server.KeycloakServer``)."""
    server = _started(KeycloakServer)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def keycloak_realm(request):
    """A realm synced from policies/ on the session's Keycloak, with a user (tests/keycloak_realm.py)."""
    yield from realm_for_session(request)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A failed test that used Keycloak keeps the server's log (copied while it still runs) under
    # the session's basetemp, and its report names the copy.
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("keycloak") if hasattr(item, "funcargs") else None
    if report.failed and server is not None and server.base is not None:
        folder = item.config._tmp_path_factory.getbasetemp() / "keycloak-logs" / item.name
        report.sections.append(("keycloak", f"Keycloak's log: {server.keep_log(folder)}"))
