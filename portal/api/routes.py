"""THE route table of the API: each entry is registered as a Flask rule (portal/api/__init__.py) and
described in the OpenAPI document (portal/api/openapi.py); nothing is declared twice.

`path` is written the OpenAPI way ("/submissions/{submission_id}"); the Flask rule is derived
from it and the path parameters' types. `action` and `resource` are the policy question asked
before the view runs (resource built from the path parameters), as `require` does for pages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from services.policy import Resource
from services.workflow import MOVES

from portal.api import views
from portal.i18n import LANGUAGES


@dataclass(frozen=True)
class Param:
    name: str
    where: str                      # "path" | "query"
    type: str = "string"            # JSON Schema type
    description: str = ""
    enum: tuple[str, ...] = ()
    required: bool = False

    def schema(self) -> dict:
        out: dict = {"type": self.type}
        if self.enum:
            out["enum"] = list(self.enum)
        return out


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    view: Callable
    summary: str
    tag: str
    action: str | None = None                       # policy action asked first (None: the view decides)
    resource: Callable[..., Resource] | None = None
    params: tuple[Param, ...] = ()
    body: dict | None = None                        # OpenAPI requestBody
    ok: tuple[int, str] = (200, "")                 # success status and schema name in components
    errors: tuple[int, ...] = ()                    # error statuses beyond 401 (and 404 with path params)
    public: bool = False                            # no token needed
    description: str = ""

    @property
    def endpoint(self) -> str:
        return self.view.__name__

    @property
    def rule(self) -> str:
        kinds = {p.name: p.type for p in self.params if p.where == "path"}

        def converter(match: re.Match) -> str:
            name = match.group(1)
            return f"<int:{name}>" if kinds.get(name) == "integer" else f"<{name}>"
        return re.sub(r"\{(\w+)\}", converter, self.path)


LANG = Param("lang", "query", description="Language of names and messages (default: Accept-Language, else en).",
             enum=LANGUAGES)
SUBMISSION_ID = Param("submission_id", "path", "integer", "The submission's number.", required=True)
DATASET_CODE = Param("code", "path", description="A dataset code of the catalog.", required=True)
INDICATOR_CODE = Param("code", "path", description="An indicator code.", required=True)

UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["dataset", "file"],
    "properties": {
        "dataset": {"type": "string", "description": "The dataset code the file holds."},
        "file": {"type": "string", "contentMediaType": "application/octet-stream",
                 "description": "CSV (UTF-8, UTF-8 with BOM or Windows-1256) or XLSX."},
        "replaces": {"type": "integer", "description": "A rejected submission this file corrects."},
    }}}}}
REASON = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 2000,
                                                "description": "Why; required to reject."}}}}}}


def _move_routes() -> list[Route]:
    notes = {"approve": "The institution's focal point approves a validated submission.",
             "accept": "The observatory accepts an approved submission; its rows then count in indicators.",
             "reject": "Reject a validated or approved submission, with a reason the institution can act on."}
    return [Route("POST", f"/submissions/{{submission_id}}/{action}", views.mover(action),
                  f"{action.capitalize()} a submission", "submissions", policy_action, views.readable_submission,
                  params=(SUBMISSION_ID, LANG), body=REASON, ok=(200, "SubmissionDetail"),
                  errors=(403, 409, 422), description=notes[action])
            for action, (_starts, _to, policy_action) in MOVES.items()]


ROUTES: list[Route] = [
    Route("GET", "/openapi.json", views.openapi_document, "This description (OpenAPI 3.1)", "meta", public=True,
          ok=(200, "")),
    Route("GET", "/datasets", views.list_datasets, "The dataset catalog", "catalog", "catalog.read",
          views.catalog_resource, params=(LANG,), ok=(200, "DatasetList"), errors=(403,)),
    Route("GET", "/datasets/{code}", views.get_dataset, "One dataset: fields, rules, codelists", "catalog",
          "catalog.read", views.catalog_resource, params=(DATASET_CODE, LANG), ok=(200, "Dataset"), errors=(403,)),
    Route("POST", "/submissions", views.create_submission, "Submit a file: archived, validated, loaded",
          "submissions", params=(LANG,), body=UPLOAD, ok=(201, "IngestResult"), errors=(400, 403, 404, 409, 413),
          description="Runs the same ingestion as the portal's upload. 201 with the validation report; 200 when "
                      "the same file was already submitted (`duplicate_of`)."),
    Route("GET", "/submissions", views.list_submissions, "Submissions you may read, newest first", "submissions",
          "submission.read", views.own_submissions,
          params=(Param("dataset", "query"), Param("status", "query", enum=("submitted", "validated", "rejected",
                                                                              "approved", "accepted")),
                  Param("institution", "query"), Param("page", "query", "integer"),
                  Param("per_page", "query", "integer", "At most 200.")),
          ok=(200, "SubmissionPage"), errors=(400, 403)),
    Route("GET", "/submissions/{submission_id}", views.get_submission, "One submission, its history and moves",
          "submissions", "submission.read", views.readable_submission, params=(SUBMISSION_ID,),
          ok=(200, "SubmissionDetail"), description="404 also for a submission you may not read."),
    Route("GET", "/submissions/{submission_id}/report", views.get_submission_report,
          "The validation report, row by row", "submissions", "submission.read", views.readable_submission,
          params=(SUBMISSION_ID, LANG), ok=(200, "Report"), errors=(400,)),
    *_move_routes(),
    Route("GET", "/indicators", views.list_indicators, "Indicators you may read", "indicators", "indicator.read",
          lambda: Resource("indicator"), ok=(200, "IndicatorList"), errors=(403, 501)),
    Route("GET", "/indicators/{code}", views.get_indicator, "One indicator's table, disclosure control applied",
          "indicators", params=(INDICATOR_CODE, Param("by", "query", description="Dimensions to keep, comma-separated."),
                                Param("year", "query"), Param("month", "query", description="7 or 2024-07."),
                                Param("version", "query", "integer", "A release version (default: the live "
                                      "table, or the latest published release for `published` readers).")),
          ok=(200, "IndicatorTable"), errors=(400, 403, 501),
          description="Needs `indicator.read` on the indicator's dataset. Query parameters named after the "
                      "indicator's other dimensions filter it (e.g. ?sex=F)."),
]
