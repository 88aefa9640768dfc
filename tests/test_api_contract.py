"""The OpenAPI document is the API's contract: each defect a fuzzer found (issue 12, item 12) has its
own regression test here; tests/test_api_fuzz.py then lets schemathesis look for more.

`conforms` checks one answer against the document the way schemathesis does: the status is
documented for the operation and the JSON body matches the schema given for it.
"""
from __future__ import annotations

import io
import json

import jsonschema
import pytest
from sqlmodel import select

from services import db
from services.models import Submission

from tests.test_api import (accepted_crossings, app, bearer, client, kc, tokens, upload,  # noqa: F401
                            valid_crossings)
from tests.portal_fixtures import portal_engine, portal_env  # noqa: F401

BIG = str(2 ** 64)   # larger than any 64-bit integer


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


def operation_of(document: dict, path: str, method: str) -> dict:
    return document["paths"][path][method.lower()]


def conforms(document: dict, path: str, method: str, answer) -> None:
    """The answer's status is documented for the operation, and its JSON body matches that schema."""
    responses = operation_of(document, path, method)["responses"]
    assert str(answer.status_code) in responses, (path, method, answer.status_code, answer.get_data(as_text=True))
    assert answer.mimetype == "application/json", (path, method, answer.mimetype)
    schema = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(answer.get_json())


# --- numbers past 64 bits, and bodies of the wrong shape -----------------------------------------------

def test_numbers_past_64_bits_are_refused_with_a_4xx_not_a_500(client, tokens, document):
    token = tokens["onm.onm_analyst"]
    for path, url in [("/submissions/{submission_id}", f"/submissions/{BIG}"),
                      ("/submissions/{submission_id}/report", f"/submissions/{BIG}/report"),
                      ("/submissions", f"/submissions?page={BIG}"),
                      ("/submissions", f"/submissions?per_page={BIG}"),
                      ("/indicators/{code}", f"/indicators/border_movements?version={BIG}"),
                      ("/indicators/{code}", f"/indicators/border_movements?year={BIG}")]:
        answer = client.get("/api/v1" + url, headers=bearer(token))
        assert answer.status_code in (400, 404), (url, answer.status_code)
        conforms(document, path, "GET", answer)
    moved = client.post(f"/api/v1/submissions/{BIG}/approve", headers=bearer(token))
    assert moved.status_code == 404
    conforms(document, "/submissions/{submission_id}/approve", "POST", moved)


def test_integers_are_whole_numbers_in_their_declared_range(client, tokens, document):
    token = tokens["onm.onm_analyst"]
    for url in ["/submissions?page=abc", "/submissions?page=0", "/submissions?per_page=201",
                "/submissions?per_page=1.5", "/indicators/border_movements?version=one",
                "/indicators/border_movements?year=twenty"]:
        answer = client.get("/api/v1" + url, headers=bearer(token))
        assert answer.status_code == 400, (url, answer.status_code)
        conforms(document, "/submissions" if url.startswith("/submissions") else "/indicators/{code}", "GET", answer)
        assert ("page" in answer.get_json()["message"] or "version" in answer.get_json()["message"]
                or "year" in answer.get_json()["message"]), answer.get_json()


def test_a_move_body_must_be_a_json_object_whose_reason_is_text(client, tokens, document):
    upload(client, tokens["mi-paf.submitter"], valid_crossings())
    token = tokens["mi-paf.focal_point"]
    for body in ("true", "[1, 2]", '"approve"', '{"reason": 5}', '{"reason": ["a"]}',
                 '{"reason": {"why": "no"}}', "{not json"):
        answer = client.post("/api/v1/submissions/1/approve", headers=bearer(token), data=body,
                             content_type="application/json")
        assert answer.status_code == 400, (body, answer.status_code, answer.get_data(as_text=True))
        conforms(document, "/submissions/{submission_id}/approve", "POST", answer)
    too_long = client.post("/api/v1/submissions/1/reject", headers=bearer(token), json={"reason": "x" * 2001})
    assert too_long.status_code == 400 and "2000" in too_long.get_json()["message"]
    with db.session(client.application.config["ENGINE"]) as s:
        assert s.get(Submission, 1).status == "validated"   # nothing moved
    approved = client.post("/api/v1/submissions/1/approve", headers=bearer(token), json={"reason": "checked"})
    assert approved.status_code == 200
    conforms(document, "/submissions/{submission_id}/approve", "POST", approved)


# --- a filter that matches nothing ------------------------------------------------------------------

def test_a_filter_matching_no_data_answers_an_empty_table(client, tokens, document, accepted_crossings):
    for user in ("mi.analyst", "onm.onm_analyst"):
        for query in ("year=1999", "year=1999&by=sex", "year=2024&nationality=ZZZ"):
            answer = client.get(f"/api/v1/indicators/border_movements?{query}", headers=bearer(tokens[user]))
            assert answer.status_code == 200, (user, query, answer.get_json())
            assert answer.get_json()["rows"] == [], (user, query, answer.get_json()["rows"])
            conforms(document, "/indicators/{code}", "GET", answer)


# --- JSON, always --------------------------------------------------------------------------------------

def test_every_answer_under_api_is_json(client, tokens):
    token = tokens["mi-paf.submitter"]
    for method, path, status in [("TRACE", "/api/v1/datasets", 405), ("TRACE", "/api/v1/nowhere", 404),
                                 ("GET", "/api/v1/data%0Asets", 404), ("GET", "/api/v1/%0A", 404),
                                 ("GET", "/api/v1/datasets/%0A", 404), ("GET", "/api/v1/submissions/%0A1", 404),
                                 ("GET", "/api", 404), ("GET", "/api/", 404), ("GET", "/api/v2/datasets", 404),
                                 ("GET", "/api/v1", 404), ("PROPFIND", "/api/v1/datasets", 405),
                                 ("OPTIONS", "/api/v1/datasets", 204)]:
        answer = client.open(path, method=method, headers=bearer(token))
        assert answer.status_code == status, (method, path, answer.status_code)
        if status != 204:
            assert answer.mimetype == "application/json", (method, path, answer.mimetype)
            assert set(answer.get_json()) == {"error", "message"}, (method, path)
        else:
            assert not answer.get_data() and "GET" in answer.headers["Allow"]
    assert "HEAD" in client.open("/api/v1/datasets", method="TRACE", headers=bearer(token)).headers["Allow"]


# --- parameters are checked before anything is done ---------------------------------------------------

def test_an_upload_with_a_bad_parameter_touches_nothing(client, tokens, document, portal_engine, tmp_path):
    token, data = tokens["mi-paf.submitter"], valid_crossings()
    objects = tmp_path / "objects"
    for query, form in [("?lang=xx", {}), ("", {"replaces": "abc"}), ("", {"replaces": BIG})]:
        answer = client.post("/api/v1/submissions" + query, headers=bearer(token), content_type="multipart/form-data",
                             data={"dataset": "border_crossings", "file": (io.BytesIO(data), "f.csv"), **form})
        assert answer.status_code == 400, (query, form, answer.status_code)
        conforms(document, "/submissions", "POST", answer)
        with db.session(portal_engine) as s:
            assert not s.exec(select(Submission)).all(), (query, form)
        assert not [p for p in objects.rglob("*") if p.is_file()], (query, form)  # nothing archived
    retried = upload(client, token, data)
    assert retried.status_code == 201 and retried.get_json()["duplicate_of"] is None
    conforms(document, "/submissions", "POST", retried)
    again = upload(client, token, data)
    assert again.status_code == 200 and again.get_json()["duplicate_of"] == retried.get_json()["submission"]["id"]
    conforms(document, "/submissions", "POST", again)


def test_declared_enums_are_enforced_on_every_route(client, tokens, document):
    token = tokens["onm.onm_analyst"]
    for path, url in [("/datasets", "/datasets?lang=xx"), ("/datasets/{code}", "/datasets/border_crossings?lang=xx"),
                      ("/submissions", "/submissions?status=lost"),
                      ("/indicators/{code}", "/indicators/border_movements?lang=xx")]:
        answer = client.get("/api/v1" + url, headers=bearer(token))
        assert answer.status_code == 400, (url, answer.status_code)
        conforms(document, path, "GET", answer)


# --- the document says what is enforced, and answers match it ------------------------------------------

def _parameter(document, path, method, name) -> dict:
    return next(p for p in operation_of(document, path, method)["parameters"] if p["name"] == name)


def test_the_document_declares_the_rules_that_are_enforced(document):
    year = _parameter(document, "/indicators/{code}", "GET", "year")["schema"]
    assert year["type"] == "array" and year["items"]["type"] == "integer"
    by = _parameter(document, "/indicators/{code}", "GET", "by")
    assert by["schema"]["type"] == "array" and by["explode"] is False and by["style"] == "form"
    assert by["schema"]["maxItems"] >= 1 and by["schema"]["uniqueItems"] is True
    page = _parameter(document, "/submissions", "GET", "page")["schema"]
    assert page["type"] == "integer" and page["minimum"] == 1 and page["maximum"] == 2 ** 31 - 1
    assert _parameter(document, "/submissions/{submission_id}", "GET", "submission_id")["schema"]["maximum"] \
        == 2 ** 31 - 1   # ids are 32-bit columns on PostgreSQL
    reject = operation_of(document, "/submissions/{submission_id}/reject", "POST")["requestBody"]
    schema = reject["content"]["application/json"]["schema"]
    assert reject["required"] is True and schema["required"] == ["reason"] and schema["properties"]["reason"]["minLength"] == 1
    approve = operation_of(document, "/submissions/{submission_id}/approve", "POST")["requestBody"]
    assert approve["required"] is False
    for path, method, statuses in [("/submissions", "POST", {"200", "201", "400", "413"}),
                                   ("/datasets", "GET", {"200", "400"}), ("/datasets/{code}", "GET", {"400"}),
                                   ("/indicators/{code}", "GET", {"200", "400", "422"}),
                                   ("/submissions/{submission_id}/approve", "POST", {"400", "422"})]:
        assert statuses <= set(operation_of(document, path, method)["responses"]), (path, method)


def test_dataset_fields_has_one_type(client, tokens, document):
    token = tokens["ins.analyst"]
    listed = client.get("/api/v1/datasets", headers=bearer(token))
    conforms(document, "/datasets", "GET", listed)
    one = client.get("/api/v1/datasets/border_crossings", headers=bearer(token))
    conforms(document, "/datasets/{code}", "GET", one)
    # the summary's and the detail's `fields` do not contradict each other (allOf of both)
    summary = document["components"]["schemas"]["DatasetSummary"]["properties"]
    detail = document["components"]["schemas"]["Dataset"]["allOf"][1]["properties"]
    for name in set(summary) & set(detail):
        assert summary[name] == detail[name], name
    assert isinstance(one.get_json()["fields"], list) and one.get_json()["field_count"] == len(one.get_json()["fields"])


def test_answers_match_the_document(client, tokens, document, accepted_crossings):
    """A walk over every operation with ordinary requests: status documented, body as described."""
    sub = accepted_crossings
    token = tokens["onm.onm_analyst"]
    for path, url in [("/openapi.json", "/openapi.json"), ("/datasets", "/datasets?lang=fr"),
                      ("/datasets/{code}", "/datasets/border_crossings"), ("/submissions", "/submissions"),
                      ("/submissions/{submission_id}", f"/submissions/{sub}"),
                      ("/submissions/{submission_id}/report", f"/submissions/{sub}/report"),
                      ("/indicators", "/indicators"),
                      ("/indicators/{code}", "/indicators/border_movements?by=sex,direction&year=2024"),
                      ("/indicators/{code}", "/indicators/border_movements?by=month"),
                      ("/indicators/{code}", "/indicators/net_migration")]:
        answer = client.get("/api/v1" + url, headers=bearer(token))
        conforms(document, path, "GET", answer)
    for user in ("mi.analyst", "unhcr.analyst"):
        answer = client.get("/api/v1/indicators/border_movements?by=nationality", headers=bearer(tokens[user]))
        conforms(document, "/indicators/{code}", "GET", answer)
    wrong = client.post(f"/api/v1/submissions/{sub}/reject", headers=bearer(token), json={"reason": "late"})
    assert wrong.status_code == 409
    conforms(document, "/submissions/{submission_id}/reject", "POST", wrong)
    assert json.dumps(document)  # the document itself is plain JSON
