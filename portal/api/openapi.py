"""The OpenAPI 3.1 description, generated from the route table (portal/api/routes.py)."""
from __future__ import annotations

from flask import current_app, request

from services.languages import LANGUAGES

from portal.api.errors import CODES

NAMES = {"type": "object", "description": "A text in Arabic, French and English.",
         "properties": {lang: {"type": "string"} for lang in LANGUAGES}}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
LINKS = {"type": "object", "additionalProperties": {"type": "string"}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str) -> dict:
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": _ref(name)}}}


SUBMISSION = {"type": "object", "required": ["id", "dataset", "institution", "status"], "properties": {
    "id": {"type": "integer"}, "dataset": {"type": "string"}, "institution": {"type": "string"},
    "status": {"type": "string", "enum": ["submitted", "validated", "rejected", "approved", "accepted"]},
    "filename": {"type": "string"}, "file_sha256": {"type": "string"}, "file_size": {"type": "integer"},
    "file_format": {"type": "string"}, "encoding": NULLABLE_STRING, "rows_total": {"type": "integer"},
    "rows_loaded": {"type": "integer"}, "errors_count": {"type": "integer"}, "submitted_by": {"type": "string"},
    "submitted_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
    "replaces": NULLABLE_INT, "links": LINKS}}
REPORT_LINE = {"type": "object", "properties": {
    "row": NULLABLE_INT, "field": NULLABLE_STRING, "value": NULLABLE_STRING, "code": {"type": "string"},
    "message": {"type": "string"}}}
DATASET_SUMMARY = {"type": "object", "required": ["code", "names"], "properties": {
    "code": {"type": "string"}, "names": NAMES, "description": NAMES, "unit": {"type": "string"},
    "field_count": {"type": "integer", "description": "How many fields (their list is in the dataset itself)."},
    "submitted_by": {"type": "array", "items": {"type": "string"}},
    "you_submit": {"type": "boolean", "description": "Whether your institution's agreement lets you submit it."},
    "links": LINKS}}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string", "description": "A stable code: " + ", ".join(sorted(set(CODES.values())))
                                                   + ", or a more precise one (e.g. wrong_status)."},
        "message": {"type": "string", "description": "What went wrong, in English."}}},
    "Names": NAMES,
    "DatasetSummary": DATASET_SUMMARY,
    "DatasetList": _list_of("DatasetSummary"),
    "Dataset": {"allOf": [_ref("DatasetSummary"), {"type": "object", "properties": {
        "language": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "labels": NAMES, "type": {"type": "string"}, "required": {"type": "boolean"},
            "identifies_person": {"type": "boolean"}, "codelist": NULLABLE_STRING}}},
        "rules": {"type": "array", "items": {"type": "object", "properties": {
            "kind": {"type": "string"}, "fields": {"type": "array", "items": {"type": "string"}},
            "text": {"type": "string"}}}},
        "codelists": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "names": NAMES, "codes": {"type": "array", "items": {"type": "string"}}}}}}}]},
    "Submission": SUBMISSION,
    "SubmissionDetail": {"allOf": [_ref("Submission"), {"type": "object", "properties": {
        "history": {"type": "array", "items": {"type": "object", "properties": {
            "from": NULLABLE_STRING, "to": {"type": "string"}, "actor": {"type": "string"},
            "at": {"type": "string", "format": "date-time"}, "reason": NULLABLE_STRING}}},
        "moves": {"type": "array", "items": {"type": "string", "enum": ["approve", "accept", "reject"]},
                  "description": "The moves you may make now."}}}]},
    "SubmissionPage": {"type": "object", "required": ["items", "total"], "properties": {
        "items": {"type": "array", "items": _ref("Submission")}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}, "pages": {"type": "integer"}}},
    "ReportLine": REPORT_LINE,
    "Report": {"type": "object", "properties": {
        "submission": {"type": "integer"}, "dataset": {"type": "string"}, "institution": {"type": "string"},
        "status": {"type": "string"}, "language": {"type": "string"}, "errors_count": {"type": "integer"},
        "errors_listed": {"type": "integer"}, "errors": {"type": "array", "items": _ref("ReportLine")}}},
    "IngestResult": {"type": "object", "required": ["submission", "valid"], "properties": {
        "submission": _ref("Submission"), "valid": {"type": "boolean"}, "duplicate_of": NULLABLE_INT,
        "report": {"type": "object", "properties": {
            "language": {"type": "string"}, "errors_count": {"type": "integer"}, "errors_listed": {"type": "integer"},
            "errors": {"type": "array", "items": _ref("ReportLine")}}}}},
    "IndicatorSummary": {"type": "object", "properties": {
        "code": {"type": "string"}, "names": NAMES, "definition": NAMES, "source": {"type": "string"},
        "unit": {"type": "string"}, "dimensions": {"type": "array", "items": {"type": "string"}},
        "level": {"type": "string", "enum": ["published", "aggregates"]}, "links": LINKS}},
    "IndicatorList": _list_of("IndicatorSummary"),
    "IndicatorTable": {"type": "object", "properties": {
        "indicator": {"type": "string"}, "dimensions": {"type": "array", "items": {"type": "string"}},
        "unit": {"type": "string"}, "level": {"type": "string"},
        "rows": {"type": "array", "items": {"type": "object", "description": "One value per dimension, then "
                                            "`value` (null when suppressed) and `flag`."}},
        "meta": {"type": "object"}}},
}


def _error(status: int) -> dict:
    return {"description": CODES.get(status, "error").replace("_", " "),
            "content": {"application/json": {"schema": _ref("Error")}}}


def operation(route) -> dict:
    status, schema = route.ok
    success = {"description": "OK" if status == 200 else "Created"}
    if schema:
        success["content"] = {"application/json": {"schema": _ref(schema)}}
    elif route.public:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses = {str(code): success for code in (status, *route.also)}
    errors = set(route.errors)
    if not route.public:
        errors.add(401)
    if any(p.where == "path" for p in route.params):
        errors.add(404)
    if any(p.where == "query" for p in route.params) or route.body:
        errors.add(400)   # every declared parameter is checked (portal/api/__init__.py)
    for code in sorted(errors):
        responses[str(code)] = _error(code)
    needs = f"Needs the permission `{route.action}`. " if route.action else ""
    op = {"operationId": route.endpoint, "summary": route.summary, "tags": [route.tag],
          "description": (needs + route.description).strip() or route.summary,
          "parameters": [p.spec() for p in route.params],
          "responses": responses}
    if route.body:
        op["requestBody"] = route.body
    if route.public:
        op["security"] = []
    return op


def document(routes) -> dict:
    """The document of `routes` (the route table, routes.ROUTES, which passes itself)."""
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route)
    schemes = {"bearer": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A Keycloak access token (client credentials of an API client) in production; in the "
                       "demo and sandboxes, a local token from `marsad tokens create --user U`."}}
    issuer = current_app.config.get("OIDC_ISSUER")
    if issuer:
        schemes["keycloak"] = {"type": "oauth2", "description": "Client credentials of an API client.",
                               "flows": {"clientCredentials": {
                                   "tokenUrl": f"{issuer}/protocol/openid-connect/token", "scopes": {}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Marsad API", "version": "1",
                 "description": "The national migration information system's API: the dataset catalog, "
                                "submissions and their workflow, indicators. JSON in and out; errors are "
                                "`{error, message}`. Bearer tokens only: no cookie is read or set."},
        "servers": [{"url": request.script_root + "/api/v1"}],
        "security": [{name: []} for name in schemes],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": schemes},
        "tags": [{"name": t} for t in dict.fromkeys(r.tag for r in routes)],
    }
