"""Bounds of one indicator query (issue 12, item 7): dimensions and cells checked before the disclosure
pass runs, a time budget for its linear programs, refusals remembered. The bounds sit in the shared
reading layer (services/indicators/reading.py), so the dashboard gets them as the API does.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

import services.indicators.reading as reading
from services.disclosure import QueryBound, protect
from services.indicators.table import IndicatorTable
from services.policy import default_policies

from tests.test_api import accepted_crossings, app, bearer, client, kc, tokens  # noqa: F401
from tests.portal_fixtures import portal_engine, portal_env  # noqa: F401

URL = "/api/v1/indicators/border_movements"


@pytest.fixture
def protections(monkeypatch):
    """Every disclosure pass the reading layer starts, counted."""
    calls = []
    real = reading.protect_for

    def counted(table, *args, **kwargs):
        calls.append(table.dimensions)
        return real(table, *args, **kwargs)
    monkeypatch.setattr(reading, "protect_for", counted)
    reading._PATTERNS.clear()
    return calls


def test_too_many_dimensions_is_a_400_naming_the_bound(client, tokens, accepted_crossings, protections,
                                                       portal_engine):
    answer = client.get(f"{URL}?by=month,nationality,border_post,sex", headers=bearer(tokens["mi.analyst"]))
    assert answer.status_code == 400, answer.get_json()
    body = answer.get_json()
    assert body["error"] == "too_many_dimensions" and "MARSAD_QUERY_MAX_DIMENSIONS" in body["message"]
    assert "at most 3" in body["message"] and not protections
    # The dashboard reads through the same layer: the same refusal, before any query.
    from services.accounts import find, principal_of
    from services import db

    with db.session(portal_engine) as s:
        principal = principal_of(find(s, "mi.analyst"))
    with pytest.raises(reading.ReadRefused) as refused:
        reading.read(portal_engine, default_policies(), principal, "border_movements", {},
                     ("month", "nationality", "border_post", "sex"))
    assert refused.value.code == "too_many_dimensions"
    assert client.get(f"{URL}?by=month,nationality,sex", headers=bearer(tokens["mi.analyst"])).status_code == 200


def test_too_many_cells_is_a_400_before_the_disclosure_pass(client, tokens, accepted_crossings, protections,
                                                            monkeypatch):
    monkeypatch.setenv("MARSAD_QUERY_MAX_CELLS", "10")   # 3 nationalities x 2 sexes: 12 cells with totals
    for user in ("mi.analyst", "onm.onm_analyst"):         # every level, protected or not
        answer = client.get(f"{URL}?by=nationality,sex", headers=bearer(tokens[user]))
        assert answer.status_code == 400, (user, answer.get_json())
        assert answer.get_json()["error"] == "too_many_cells"
        assert "MARSAD_QUERY_MAX_CELLS" in answer.get_json()["message"] and "10" in answer.get_json()["message"]
    assert not protections
    assert client.get(f"{URL}?by=sex", headers=bearer(tokens["mi.analyst"])).status_code == 200


def test_a_query_past_its_time_budget_is_a_clear_400_and_is_remembered(client, tokens, accepted_crossings,
                                                                         protections, monkeypatch):
    monkeypatch.setenv("MARSAD_QUERY_SECONDS", "0.000001")
    started = time.monotonic()
    answer = client.get(f"{URL}?by=month,nationality,sex", headers=bearer(tokens["mi.analyst"]))
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "time_budget" and "MARSAD_QUERY_SECONDS" in answer.get_json()["message"]
    assert time.monotonic() - started < 10
    again = client.get(f"{URL}?by=month,nationality,sex", headers=bearer(tokens["mi.analyst"]))
    assert again.status_code == 400 and len(protections) == 1   # the refusal is remembered, not paid twice
    monkeypatch.setenv("MARSAD_QUERY_SECONDS", "60")
    fine = client.get(f"{URL}?by=month,nationality,sex", headers=bearer(tokens["mi.analyst"]))
    assert fine.status_code == 200
    cached = client.get(f"{URL}?by=month,nationality,sex", headers=bearer(tokens["mi.analyst"]))
    assert cached.get_json() == fine.get_json() and len(protections) == 2   # the answer is remembered too


def test_the_disclosure_pass_stops_at_its_budget():
    """A table whose protection takes seconds gives up at the budget, with the bound named."""
    rng = np.random.default_rng(7)
    cells = {(f"A{i}", f"B{j}", f"C{k}"): int(rng.choice([0, 1, 2, 3, 8, 20]))
             for i in range(12) for j in range(8) for k in range(3)}
    table = IndicatorTable("test", ("a", "b", "c"), cells)
    started = time.monotonic()
    with pytest.raises(QueryBound) as stopped:
        protect(table, threshold=5, seconds=0.2)
    assert stopped.value.bound == "time_budget" and "MARSAD_QUERY_SECONDS" in str(stopped.value)
    assert time.monotonic() - started < 3
    with pytest.raises(QueryBound) as large:
        protect(table, threshold=5, max_cells=300)   # 12*8*3 = 288 cells, 13*9*4 = 468 with totals
    assert large.value.bound == "too_many_cells"
