# portal fixtures
"""Fixtures for the portal tests: an application on a temporary SQLite database and local object
store, with the demo accounts seeded from policies/, and helpers to sign in and post forms.

(Kept out of tests/conftest.py, which another part of the test suite owns; the portal tests
import these names.)
"""
from __future__ import annotations

import csv
import io

import pytest

from services import accounts, db
from services.accounts import DEMO_PASSWORD
from services.catalog import default_catalog
from services.policy import default_policies

from portal import create_app


@pytest.fixture
def portal_env(tmp_path, monkeypatch):
    """The MARSAD_* environment of a throwaway installation under tmp_path."""
    url = f"sqlite:///{tmp_path / 'marsad.db'}"
    for name, value in {
        "ENV": "test",
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": url,
        "STORAGE": "local",
        "STORAGE_DIR": str(tmp_path / "objects"),
        "COOKIE_SECURE": "0",  # the test client speaks plain HTTP, as the demo does
        "LOCAL_ACCOUNTS": "1",
    }.items():
        monkeypatch.setenv(f"MARSAD_{name}", value)
    return url


@pytest.fixture
def portal_engine(portal_env):
    eng = db.make_engine(portal_env)
    db.upgrade(eng)
    with db.session(eng) as s:
        accounts.seed_demo(s, default_policies())
    yield eng
    eng.dispose()


@pytest.fixture
def app(portal_engine):
    return create_app({"TESTING": True, "ENGINE": portal_engine})


@pytest.fixture
def client(app):
    return app.test_client()


def csrf(client) -> str:
    """The session's CSRF token, as a form rendered by the portal would carry it."""
    with client.session_transaction() as sess:
        if "_csrf" not in sess:
            sess["_csrf"] = "test-token-" + str(id(client))
        return sess["_csrf"]


def login(client, username: str, password: str = DEMO_PASSWORD, **extra):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(client),
                                       **extra})


def logout(client):
    return client.post("/logout", data={"csrf_token": csrf(client)})


def post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={**(data or {}), "csrf_token": csrf(client)}, **kwargs)


def border_crossings_csv(rows: list[dict]) -> bytes:
    """A border_crossings file with every catalog field as a column, built from the catalog itself."""
    dataset = default_catalog().dataset("border_crossings")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(dataset.field_names)
    for row in rows:
        writer.writerow([row.get(name, "") for name in dataset.field_names])
    return out.getvalue().encode("utf-8")


def crossing(n: int, **overrides) -> dict:
    """One valid crossing; border post taken from the codelist, countries ISO alpha-3."""
    post_code = default_catalog().codelists["border_posts"].codes[0]
    row = {"event_id": f"E{n:06d}", "event_date": "2024-07-14", "direction": "ENTRY", "border_post": post_code,
           "person_id": f"P{n:08d}", "family_name": "Ben Salah", "given_name": "Amira", "nationality": "TUN",
           "sex": "F", "birth_date": "1990-03-02", "age": "34", "country_of_residence": "LBY"}
    row.update(overrides)
    return row


def upload(client, data: bytes, dataset: str = "border_crossings", filename: str = "crossings.csv", **extra):
    return post(client, "/submissions/new", {"dataset": dataset, "file": (io.BytesIO(data), filename), **extra},
                content_type="multipart/form-data")
