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

from services.languages import LANGUAGES
from services.policy import Resource
from services.models import Status
from services.workflow import MOVES

from portal.api import openapi, views
from portal.api.params import INT32, REASON_LENGTH, REPLACES, Param


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
    also: tuple[int, ...] = ()                      # other success statuses, with the same schema
    errors: tuple[int, ...] = ()                    # error statuses beyond 401 (and 404 with path params)
    public: bool = False                            # no token needed
    description: str = ""

    @property
    def endpoint(self) -> str:
        return self.view.__name__

    @property
    def rule(self) -> str:
        kinds = {p.name: p for p in self.params if p.where == "path"}

        def converter(match: re.Match) -> str:
            p = kinds.get(match.group(1))
            if p is not None and p.type == "integer":  # its range is checked by the view's wrapper: a JSON 404
                return f"<int:{p.name}>"
            return f"<{match.group(1)}>"
        return re.sub(r"\{(\w+)\}", converter, self.path)


def _dataset_codes() -> tuple[str, ...]:
    from portal.runtime import runtime

    return tuple(runtime().catalog.datasets)


def _indicator_codes() -> tuple[str, ...]:
    return tuple(views.definitions())


def _dimension_names() -> tuple[str, ...]:
    """Every dimension of an indicator: each is a filter, and each may be kept in `by`."""
    return tuple(dict.fromkeys(name for ind in views.definitions().values() for name in ind.dimension_names))


def _max_dimensions() -> int:
    from services.config import settings

    return settings().query_max_dimensions


LANG = Param("lang", "query", description="Language of names and messages (default: Accept-Language, else en).",
             enum=LANGUAGES)
SUBMISSION_ID = Param("submission_id", "path", "integer", "The submission's number.", required=True,
                      minimum=1, maximum=INT32)
DATASET_CODE = Param("code", "path", description="A dataset code of the catalog.", required=True,
                     enum=_dataset_codes)
INDICATOR_CODE = Param("code", "path", description="An indicator code.", required=True, enum=_indicator_codes)
PERIODS = ("year", "month")
BY = Param("by", "query", "array", "Dimensions to keep, comma-separated (at most MARSAD_QUERY_MAX_DIMENSIONS; "
           "the indicator must have them).", explode=False, max_items=_max_dimensions,
           bound="MARSAD_QUERY_MAX_DIMENSIONS", bound_code="too_many_dimensions",
           items=Param("by", "query", enum=lambda: PERIODS + _dimension_names()))
YEAR = Param("year", "query", "array", "Years (repeat the parameter for several; default: the latest).",
             items=Param("year", "query", "integer", minimum=1, maximum=9999))
MONTH = Param("month", "query", "array", "Months: 7 or 2024-07 (repeat the parameter for several).",
              items=Param("month", "query", pattern=r"([0-9]{4}-)?(0?[1-9]|1[0-2])"))
VERSION = Param("version", "query", "integer", "A release version (default: the live table, or the latest "
                "published release for `published` readers).", minimum=1, maximum=INT32)


def _filters() -> tuple[Param, ...]:
    return tuple(Param(name, "query", "array", f"Codes of {name} to keep (only for an indicator that has it); "
                       "several are added up unless `by` keeps it.", items=Param(name, "query"))
                 for name in _dimension_names())


UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["dataset", "file"],
    "properties": {
        "dataset": {"type": "string", "description": "The dataset code the file holds."},
        "file": {"type": "string", "contentMediaType": "application/octet-stream",
                 "description": "CSV (UTF-8, UTF-8 with BOM or Windows-1256) or XLSX."},
        "replaces": {**REPLACES.schema(), "description": REPLACES.description},
    }}}}}


def _reason(required: bool) -> dict:
    """A move's body: a JSON object (or a form) whose `reason` is text; rejecting needs one."""
    reason = {"type": "string", "maxLength": REASON_LENGTH,
              "description": "Why; required to reject." if not required else "Why, for the institution to act on."}
    schema: dict = {"type": "object", "properties": {"reason": reason}}
    if required:
        schema["required"] = ["reason"]
        reason.update(minLength=1, pattern=r"\S")
    return {"required": required, "content": {media: {"schema": schema} for media in
                                              ("application/json", "application/x-www-form-urlencoded")}}


def _move_routes() -> list[Route]:
    notes = {"approve": "The institution's focal point approves a validated submission.",
             "accept": "The observatory accepts an approved submission; its rows then count in indicators.",
             "reject": "Reject a validated or approved submission, with a reason the institution can act on."}
    return [Route("POST", f"/submissions/{{submission_id}}/{action}", views.mover(action),
                  f"{action.capitalize()} a submission", "submissions", policy_action, views.readable_submission,
                  params=(SUBMISSION_ID, LANG), body=_reason(action == "reject"), ok=(200, "SubmissionDetail"),
                  errors=(400, 403, 409, 422), description=notes[action])
            for action, (_starts, _to, policy_action) in MOVES.items()]


def openapi_document():
    return openapi.document(ROUTES)


ROUTES: list[Route] = [
    Route("GET", "/openapi.json", openapi_document, "This description (OpenAPI 3.1)", "meta", public=True,
          ok=(200, "")),
    Route("GET", "/datasets", views.list_datasets, "The dataset catalog", "catalog", "catalog.read",
          views.catalog_resource, params=(LANG,), ok=(200, "DatasetList"), errors=(400, 403)),
    Route("GET", "/datasets/{code}", views.get_dataset, "One dataset: fields, rules, codelists", "catalog",
          "catalog.read", views.catalog_resource, params=(DATASET_CODE, LANG), ok=(200, "Dataset"),
          errors=(400, 403)),
    Route("POST", "/submissions", views.create_submission, "Submit a file: archived, validated, loaded",
          "submissions", params=(LANG,), body=UPLOAD, ok=(201, "IngestResult"), also=(200,),
          errors=(400, 403, 404, 409, 413),
          description="Runs the same ingestion as the portal's upload. 201 with the validation report; 200 when "
                      "the same file was already submitted (`duplicate_of`). Every parameter is checked before "
                      "the file is read."),
    Route("GET", "/submissions", views.list_submissions, "Submissions you may read, newest first", "submissions",
          "submission.read", views.own_submissions,
          params=(Param("dataset", "query"), Param("status", "query", enum=tuple(s.value for s in Status)),
                  Param("institution", "query"), Param("page", "query", "integer", minimum=1, maximum=INT32),
                  Param("per_page", "query", "integer", "At most 200 (default 50).", minimum=1,
                        maximum=views.MAX_PER_PAGE)),
          ok=(200, "SubmissionPage"), errors=(400, 403)),
    Route("GET", "/submissions/{submission_id}", views.get_submission, "One submission, its history and moves",
          "submissions", "submission.read", views.readable_submission, params=(SUBMISSION_ID,),
          ok=(200, "SubmissionDetail"), description="404 also for a submission you may not read."),
    Route("GET", "/submissions/{submission_id}/report", views.get_submission_report,
          "The validation report, row by row", "submissions", "submission.read", views.readable_submission,
          params=(SUBMISSION_ID, LANG), ok=(200, "Report"), errors=(400,)),
    *_move_routes(),
    Route("GET", "/indicators", views.list_indicators, "Indicators you may read", "indicators", "indicator.read",
          lambda: Resource("indicator"), ok=(200, "IndicatorList"), errors=(403,)),
    Route("GET", "/indicators/{code}", views.get_indicator, "One indicator's table, disclosure control applied",
          "indicators", params=(INDICATOR_CODE, BY, YEAR, MONTH, VERSION, LANG, *_filters()),
          ok=(200, "IndicatorTable"), errors=(400, 403, 422),
          description="Needs `indicator.read` on the indicator's dataset. The parameters named after the "
                      "indicator's dimensions filter it (e.g. ?sex=F); one it does not have is a 400. 400 also "
                      "past the bounds of one query (MARSAD_QUERY_MAX_DIMENSIONS, MARSAD_QUERY_MAX_CELLS, "
                      "MARSAD_QUERY_SECONDS); 422 for a table disclosure control cannot protect."),
]
