"""Submissions: upload with the validation report, history, and the workflow moves.

Every view asks the policy about the submission's own institution and dataset; the list is
narrowed to the institutions the policy lets the principal read. A report download is audited
(microdata.report): its lines quote the submitted values, names and identity numbers included.
"""
from __future__ import annotations

import json
import re

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services import audit
from services.catalog import CatalogError
from services.ingest import SubmissionDenied, ingest
from services.ingest.report import report_csv, report_lines
from services.models import Status, Submission
from services.policy import Resource, decide
from services.workflow import MOVES, WorkflowError, history, move

from portal import queries
from portal.access import acting_as, check, current_principal, login_required, login_url, own, require
from portal.i18n import current_language
from portal.runtime import db_session, runtime

bp = Blueprint("submissions", __name__, url_prefix="/submissions")

REPORT_ON_SCREEN = 500  # lines shown in the page; the downloads carry every stored line
PER_PAGE = 50


def load_submission(submission_id: int) -> Submission:
    submission = db_session().get(Submission, submission_id)
    if submission is None:
        abort(404)
    return submission


def submission_resource(submission_id: int) -> Resource:
    sub = load_submission(submission_id)
    return Resource("submission", institution=sub.institution, dataset=sub.dataset)


def submittable_datasets() -> list[str]:
    """Datasets the principal may submit for its own institution, in catalog order."""
    principal, policies, institution = current_principal(), runtime().policies, acting_as()
    return [code for code in runtime().catalog.datasets
            if decide(policies, principal, "submission.create",
                      Resource("dataset", institution=institution, dataset=code))]


def upload_name(raw: str | None) -> str:
    """The file's own name without any client path, control characters or excess length."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:255] or "upload"


@bp.route("")
@require("submission.read", lambda: own("submission"))
def index():
    principal, policies = current_principal(), runtime().policies
    scope = queries.readable_institutions(policies, principal)
    dataset = request.args.get("dataset") or None
    status = request.args.get("status") or None
    institution = request.args.get("institution") or None
    page = queries.submissions(db_session(), scope, dataset=dataset, status=status, institution=institution,
                               page=request.args.get("page", 1, type=int), per_page=PER_PAGE)
    institutions = sorted(policies.institutions if scope is queries.ALL else scope)
    moves = {sub.id: queries.allowed_moves(policies, principal, sub) for sub in page.items}
    return render_template("submissions/index.html", page=page, filters={
        "dataset": dataset, "status": status, "institution": institution},
        datasets=list(runtime().catalog.datasets), statuses=[s.value for s in Status],
        institutions=institutions if len(institutions) > 1 else [],
        page_url=lambda n: url_for("submissions.index", **{**request.args.to_dict(), "page": n}),
        moves=moves, any_moves=any(moves.values()))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    # Asked dataset by dataset: the agreement names which datasets an institution submits.
    datasets = submittable_datasets()
    if not datasets:
        abort(403)
    replaces = request.values.get("replaces", type=int)
    replaced = _replaceable(replaces) if replaces else None
    if request.method == "GET":
        chosen = request.args.get("dataset") or (replaced.dataset if replaced else None)
        return render_template("submissions/new.html", datasets=datasets, chosen=chosen, replaced=replaced)

    dataset = request.form.get("dataset", "")
    upload = request.files.get("file")
    if dataset not in datasets:
        check("submission.create", Resource("dataset", institution=acting_as(), dataset=dataset))
        abort(400)  # allowed but not in the catalog: a forged form
    if upload is None or not upload.filename:
        flash(_("Choose a file to upload."), "error")
        return render_template("submissions/new.html", datasets=datasets, chosen=dataset, replaced=replaced), 400
    if replaced is not None and replaced.dataset != dataset:
        flash(_("A corrected file must be for the same dataset as the rejected one."), "error")
        return render_template("submissions/new.html", datasets=datasets, chosen=dataset, replaced=replaced), 400

    principal, rt = current_principal(), runtime()
    try:
        result = ingest(upload.stream, dataset=dataset, institution=acting_as(), principal=principal,
                        filename=upload_name(upload.filename), engine=rt.engine, store=rt.object_store(),
                        catalog=rt.catalog, policies=rt.policies, replaces=replaced.id if replaced else None,
                        encoding=request.form.get("encoding") or None)
    except SubmissionDenied:
        abort(403)
    except CatalogError:
        abort(400)
    sub = result.submission
    if result.duplicate_of is not None:
        flash(_("This file was already submitted (submission %(id)s); it was not loaded again.", id=sub.id), "info")
    elif result.valid:
        flash(_("The file passed validation: %(rows)s rows.", rows=sub.rows_loaded), "success")
    else:
        flash(_("The file was rejected: %(errors)s errors. The report below lists them row by row.",
                errors=sub.errors_count), "error")
    return redirect(url_for("submissions.detail", submission_id=sub.id), 303)


def _replaceable(submission_id: int) -> Submission:
    """A rejected submission of the principal's institution that a corrected file may replace."""
    sub = load_submission(submission_id)
    check("submission.create", Resource("dataset", institution=sub.institution, dataset=sub.dataset))
    if sub.status != Status.rejected.value or sub.institution != acting_as():
        abort(400)
    return sub


@bp.route("/<int:submission_id>")
@require("submission.read", submission_resource)
def detail(submission_id: int):
    s, principal, rt = db_session(), current_principal(), runtime()
    sub = load_submission(submission_id)
    errors = queries.row_errors(s, sub.id, limit=REPORT_ON_SCREEN)
    lines = report_lines(errors, rt.catalog, sub.dataset, current_language())
    can_resubmit = sub.status == Status.rejected.value and sub.institution == acting_as() and decide(
        rt.policies, principal, "submission.create",
        Resource("dataset", institution=sub.institution, dataset=sub.dataset))
    return render_template("submissions/detail.html", sub=sub, lines=lines,
                           stored_errors=queries.stored_error_count(s, sub.id),
                           events=history(s, sub.id), moves=queries.allowed_moves(rt.policies, principal, sub),
                           can_resubmit=can_resubmit)


def _report(submission_id: int, fmt: str):
    """The report's lines, once the download is in the audit trail."""
    sub = load_submission(submission_id)
    lang = current_language()
    lines = report_lines(queries.row_errors(db_session(), sub.id), runtime().catalog, sub.dataset, lang)
    principal = current_principal()
    audit.record(db_session(), actor=principal.username, institution=principal.institution,
                 action="microdata.report", target=f"submission:{sub.id}",
                 details={"format": fmt, "language": lang, "dataset": sub.dataset, "institution": sub.institution,
                          "status": sub.status, "lines": len(lines)})
    return sub, lines, lang


@bp.route("/<int:submission_id>/report.csv")
@require("submission.read", submission_resource)
def report_as_csv(submission_id: int):
    sub, lines, lang = _report(submission_id, "csv")
    return Response(report_csv(lines, lang), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="marsad-submission-{sub.id}-report-{lang}.csv"'})


@bp.route("/<int:submission_id>/report.json")
@require("submission.read", submission_resource)
def report_as_json(submission_id: int):
    sub, lines, lang = _report(submission_id, "json")
    body = {"submission": sub.id, "dataset": sub.dataset, "institution": sub.institution, "status": sub.status,
            "filename": sub.filename, "rows": sub.rows_total, "errors_count": sub.errors_count,
            "errors_listed": len(lines), "language": lang, "errors": lines}
    return Response(json.dumps(body, ensure_ascii=False, indent=1), mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="marsad-submission-{sub.id}-report-{lang}.json"'})


@bp.route("/<int:submission_id>/<any(approve, accept, reject):action>", methods=["POST"])
def workflow_move(submission_id: int, action: str):
    if current_principal() is None:
        return redirect(login_url())
    check(MOVES[action][2], submission_resource(submission_id))
    reason = request.form.get("reason", "").strip()[:2000] or None
    try:
        move(db_session(), submission_id, action, current_principal(), reason=reason, policies=runtime().policies)
    except WorkflowError as err:
        if err.code == "denied":
            abort(403)
        if err.code == "not_found":
            abort(404)
        flash(_("A rejection needs a reason the institution can act on.") if err.code == "reason_required"
              else _("This submission is no longer in a state that allows this action."), "error")
    else:
        flash({"approve": _("Submission %(id)s approved.", id=submission_id),
               "accept": _("Submission %(id)s accepted.", id=submission_id),
               "reject": _("Submission %(id)s rejected.", id=submission_id)}[action], "success")
    target = request.form.get("back")
    if target != "list":
        target = url_for("submissions.detail", submission_id=submission_id)
    else:
        target = url_for("submissions.index")
    return redirect(target, 303)
