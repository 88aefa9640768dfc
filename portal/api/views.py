"""The API's views: thin, as the pages are; each asks the policy through `decide` (via the route table's
`action` and resource, or `check` here for what depends on the request), then calls `services`."""
from __future__ import annotations

import datetime as dt

from flask import g, request, url_for

from services import audit
from services.catalog import CatalogError
from services.ingest import SubmissionDenied, ingest
from services.ingest.report import report_lines
from services.languages import LANGUAGES
from services.models import Status, Submission
from services.policy import Resource, acting_institution, decide
from services.workflow import WorkflowError, history, move

from portal import queries
from portal.api.bearer import api_principal
from portal.api.errors import ApiError
from portal.api.params import REASON_LENGTH, REPLACES
from portal.runtime import db_session, runtime

REPORT_IN_ANSWER = 1000   # report lines in an upload's answer; GET .../report has every stored line
MAX_PER_PAGE = 200


# --- helpers ---------------------------------------------------------------------------------

def param(name: str, default=None):
    """A query parameter as the route table declares it, checked and typed before the view ran."""
    return g.get("api_params", {}).get(name, default)


def language() -> str:
    """?lang= (checked against the route's enum), else the Accept-Language header, else English
    (scripts read English best)."""
    return param("lang") or request.accept_languages.best_match(LANGUAGES) or "en"


def acting_as() -> str:
    principal = api_principal()
    return acting_institution(runtime().policies, principal) or principal.institution


def check(action: str, resource: Resource) -> None:
    answer = decide(runtime().policies, api_principal(), action, resource)
    if not answer:
        raise ApiError(403, answer.reason)


def _iso(value):
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def submission_json(sub: Submission) -> dict:
    return {"id": sub.id, "dataset": sub.dataset, "institution": sub.institution, "status": sub.status,
            "filename": sub.filename, "file_sha256": sub.file_sha256, "file_size": sub.file_size,
            "file_format": sub.file_format, "encoding": sub.encoding, "rows_total": sub.rows_total,
            "rows_loaded": sub.rows_loaded, "errors_count": sub.errors_count, "submitted_by": sub.submitted_by,
            "submitted_at": _iso(sub.submitted_at), "updated_at": _iso(sub.updated_at), "replaces": sub.replaces_id,
            "links": {"self": url_for("api.get_submission", submission_id=sub.id),
                      "report": url_for("api.get_submission_report", submission_id=sub.id)}}


# --- resources the route table asks the policy about --------------------------------------------

def catalog_resource(code: str | None = None) -> Resource:
    if code is not None and code not in runtime().catalog.datasets:
        raise ApiError(404, f"no dataset {code!r} in the catalog")
    return Resource("catalog", dataset=code)


def own_submissions() -> Resource:
    return Resource("submission", institution=acting_as())


def readable_submission(submission_id: int) -> Resource:
    """The submission as a resource; 404 also when it exists but the caller may not read it, so that
    the API tells nobody which other institutions' submissions exist."""
    sub = db_session().get(Submission, submission_id)
    resource = Resource("submission", institution=sub.institution, dataset=sub.dataset) if sub else None
    if resource is None or not decide(runtime().policies, api_principal(), "submission.read", resource):
        raise ApiError(404, f"no submission {submission_id} that you may read")
    return resource


# --- catalog ---------------------------------------------------------------------------------

def _dataset_summary(dataset) -> dict:
    policies, principal = runtime().policies, api_principal()
    institution = acting_as()
    return {"code": dataset.code, "names": dict(dataset.names), "description": dict(dataset.description),
            "unit": dataset.unit, "field_count": len(dataset.fields),
            "submitted_by": list(policies.submitters_of(dataset.code)),
            "you_submit": bool(decide(policies, principal, "submission.create",
                                      Resource("dataset", institution=institution, dataset=dataset.code))),
            "links": {"self": url_for("api.get_dataset", code=dataset.code)}}


def list_datasets():
    return {"items": [_dataset_summary(d) for d in runtime().catalog.datasets.values()]}


def get_dataset(code: str):
    from services.templates import rule_text

    catalog, lang = runtime().catalog, language()
    dataset = catalog.dataset(code)
    fields = [{"name": f.name, "labels": dict(f.labels), "type": f.type, "required": f.required,
               "identifies_person": f.identifies_person, "codelist": f.codelist, "min": _iso(f.min),
               "max": _iso(f.max), "max_length": f.max_length, "pattern": f.pattern, "aliases": list(f.aliases)}
              for f in dataset.fields]
    used = sorted({f.codelist for f in dataset.fields if f.codelist})
    codelists = {code: {"names": dict(catalog.codelists[code].names), "codes": list(catalog.codelists[code].codes)}
                 for code in used if code in catalog.codelists}
    rules = [{"kind": r.kind, "fields": list(r.fields), "params": dict(r.params),
              "text": rule_text(r, dataset, catalog, lang)} for r in dataset.rules]
    return {**_dataset_summary(dataset), "language": lang, "fields": fields, "rules": rules, "codelists": codelists}


# --- submissions -----------------------------------------------------------------------------

def _replaces(text: str | None) -> int | None:
    """The form's `replaces`, checked as the document's upload schema declares it."""
    return REPLACES.value([text.strip()]) if text is not None and text.strip() else None


def create_submission():
    rt, principal = runtime(), api_principal()
    dataset = request.form.get("dataset", "").strip()
    upload = request.files.get("file")
    if not dataset:
        raise ApiError(400, "the form needs a `dataset` field naming a catalog dataset")
    if dataset not in rt.catalog.datasets:
        raise ApiError(404, f"no dataset {dataset!r} in the catalog")
    institution = acting_as()
    check("submission.create", Resource("dataset", institution=institution, dataset=dataset))
    if upload is None or not upload.filename:
        raise ApiError(400, "the form needs a `file` part with the data file")
    replaces = _replaces(request.form.get("replaces"))
    if replaces is not None:
        earlier = db_session().get(Submission, replaces)
        if earlier is None or earlier.institution != institution:
            raise ApiError(404, f"no submission {replaces} of {institution} to replace")
        if earlier.status != Status.rejected.value or earlier.dataset != dataset:
            raise ApiError(409, "only a rejected submission of the same dataset can be replaced")
    from portal.submissions import upload_name

    try:
        result = ingest(upload.stream, dataset=dataset, institution=institution, principal=principal,
                        filename=upload_name(upload.filename), engine=rt.engine, store=rt.object_store(),
                        catalog=rt.catalog, policies=rt.policies, replaces=replaces)
    except SubmissionDenied as exc:
        raise ApiError(403, str(exc)) from exc
    except CatalogError as exc:
        raise ApiError(400, str(exc)) from exc
    sub, lang = result.submission, language()
    lines = report_lines(result.problems[:REPORT_IN_ANSWER], rt.catalog, sub.dataset, lang)
    body = {"submission": submission_json(sub), "valid": result.valid,
            "duplicate_of": result.duplicate_of.id if result.duplicate_of is not None else None,
            "report": {"language": lang, "errors_count": sub.errors_count, "errors_listed": len(lines),
                       "errors": lines}}
    if result.duplicate_of is not None:
        body["report"] = {"language": lang, "errors_count": 0, "errors_listed": 0, "errors": []}
        return body, 200
    return body, 201, {"Location": url_for("api.get_submission", submission_id=sub.id)}


def list_submissions():
    principal, policies = api_principal(), runtime().policies
    scope = queries.readable_institutions(policies, principal)
    page = queries.submissions(db_session(), scope, dataset=param("dataset") or None, status=param("status"),
                               institution=param("institution") or None, page=param("page", 1),
                               per_page=param("per_page", 50))
    return {"items": [submission_json(s) for s in page.items], "total": page.total, "page": page.page,
            "per_page": page.per_page, "pages": page.pages}


def get_submission(submission_id: int):
    s, sub = db_session(), db_session().get(Submission, submission_id)
    events = [{"from": e.from_status, "to": e.to_status, "actor": e.actor, "at": _iso(e.at), "reason": e.reason}
              for e in history(s, sub.id)]
    return {**submission_json(sub), "history": events,
            "moves": queries.allowed_moves(runtime().policies, api_principal(), sub)}


def get_submission_report(submission_id: int):
    s, lang = db_session(), language()
    sub = s.get(Submission, submission_id)
    lines = report_lines(queries.row_errors(s, sub.id), runtime().catalog, sub.dataset, lang)
    # The report quotes the submitted values (names, identity numbers): a read of microdata, as on the portal.
    principal = api_principal()
    audit.record(s, actor=principal.username, institution=principal.institution, action="microdata.report",
                 target=f"submission:{sub.id}",
                 details={"via": "api", "format": "json", "language": lang, "dataset": sub.dataset,
                          "institution": sub.institution, "status": sub.status, "lines": len(lines)})
    return {"submission": sub.id, "dataset": sub.dataset, "institution": sub.institution, "status": sub.status,
            "language": lang, "errors_count": sub.errors_count, "errors_listed": len(lines), "errors": lines}


WORKFLOW_STATUS = {"denied": 403, "not_found": 404, "wrong_status": 409, "reason_required": 422,
                   "unknown_action": 400}


def move_reason() -> str | None:
    """The body's reason: a JSON object's (or a form's) text of at most REASON_LENGTH characters."""
    if request.is_json:
        data = request.get_json(silent=True)
        if data is None and request.get_data():
            raise ApiError(400, "the body is not JSON; send an object such as {\"reason\": \"...\"}")
    else:
        data = request.form
    if data is not None and not isinstance(data, dict) and not hasattr(data, "getlist"):
        raise ApiError(400, f"the body must be a JSON object, not {type(data).__name__}")
    reason = (data or {}).get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ApiError(400, f"reason must be text, not {type(reason).__name__}")
    if reason is not None and len(reason) > REASON_LENGTH:
        raise ApiError(400, f"reason must be at most {REASON_LENGTH} characters, not {len(reason)}")
    return (reason or "").strip() or None


def move_submission(submission_id: int, action: str):
    reason = move_reason()
    try:
        sub = move(db_session(), submission_id, action, api_principal(), reason=reason, policies=runtime().policies)
    except WorkflowError as err:
        raise ApiError(WORKFLOW_STATUS.get(err.code, 400), str(err), code=err.code) from err
    return get_submission(sub.id)


def mover(action: str):
    """The view of one workflow move (approve, accept, reject): one route each in the table."""
    def view(submission_id: int):
        return move_submission(submission_id, action)
    view.__name__ = f"{action}_submission"
    return view


# --- indicators ------------------------------------------------------------------------------

def _indicator_level(indicator) -> str:
    from services.indicators.reading import ReadRefused, read_level

    try:
        return read_level(runtime().policies, api_principal(), indicator)
    except ReadRefused as exc:
        raise ApiError(403, str(exc)) from exc


def definitions() -> dict:
    from services.indicators.definitions import default_indicators

    return default_indicators()


def list_indicators():
    policies, principal = runtime().policies, api_principal()
    items = []
    for code, ind in definitions().items():
        answer = decide(policies, principal, "indicator.read", Resource("indicator", dataset=ind.dataset))
        if answer:
            items.append({"code": code, "names": dict(ind.names), "definition": dict(ind.definition),
                          "source": ind.dataset, "unit": ind.unit, "dimensions": list(ind.dimension_names),
                          "frequency": list(ind.frequency), "level": answer.level,
                          "links": {"self": url_for("api.get_indicator", code=code)}})
    return {"items": items}


# ReadRefused codes (services/indicators/reading.py) past the bounds of one query: the caller asks less.
BOUND_CODES = ("too_many_dimensions", "too_many_cells", "time_budget")


def get_indicator(code: str):
    """The table the reader may see (services/indicators/reading.py, shared with the dashboard):
    `published` readers the latest published release, others the live table; both under
    disclosure control for their level. A read at a microdata level is audited."""
    from services.disclosure import MICRODATA_LEVELS
    from services.indicators import ReleaseError
    from services.indicators.reading import ReadRefused, read

    known = definitions()
    if code not in known:
        raise ApiError(404, f"no indicator {code!r}")
    ind = known[code]
    _indicator_level(ind)  # 403 before anything about the request is answered
    names = {"year", "month", *ind.dimension_names}
    unknown = sorted(set(request.args) - names - {"by", "lang", "version"})
    if unknown:
        raise ApiError(400, f"unknown parameter(s) {', '.join(unknown)}; filters are: {', '.join(sorted(names))}")
    # Checked and typed by the route table; one value is passed as itself, several as a list.
    filters = {name: values if len(values) > 1 else values[0]
               for name, values in ((n, param(n)) for n in sorted(names)) if values}
    by = tuple(param("by", ()))
    rt, principal = runtime(), api_principal()
    try:
        reading = read(rt.engine, rt.policies, principal, code, filters, by, version=param("version"),
                       definitions=known)
    except ReadRefused as exc:
        status = 403 if exc.code == "denied" else 400 if exc.code in BOUND_CODES else 422
        raise ApiError(status, str(exc), code=exc.code) from exc
    except ReleaseError as exc:
        raise ApiError({"denied": 403, "not_found": 404}.get(exc.code, 400), str(exc), code=exc.code) from exc
    except (KeyError, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    if reading.level in MICRODATA_LEVELS:
        # Unprotected counts: who read which cut of the persons' rows.
        audit.record(db_session(), actor=principal.username, institution=principal.institution,
                     action="microdata.read", target=f"indicator:{code}",
                     details={"via": "api", "dataset": ind.dataset, "indicator": code, "level": reading.level,
                              "filters": filters, "by": list(by), "version": param("version")})
    table = reading.table
    rows = [{**dict(zip(table.dimensions, key)), "value": value, "flag": flag}
            for *key, value, flag in table.rows()]
    return {"indicator": table.indicator, "dimensions": list(table.dimensions), "unit": table.unit,
            "level": reading.level, "rows": rows, "meta": table.meta}
