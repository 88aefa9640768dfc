"""`marsad ingest` and `marsad submissions`: load files and move them through the workflow."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from sqlmodel import select

from services import db
from services.catalog import default_catalog
from services.cli import EXIT_DENIED, EXIT_NOT_FOUND, EXIT_PROBLEMS
from services.cli.common import ID, LANG_OPTION, emit_json, operator
from services.ingest import IngestInterrupted, SubmissionDenied, ingest
from services.ingest.report import report_csv, report_lines
from services.models import RowError, Submission
from services.workflow import WorkflowError, history, move


@click.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", "-d", required=True, help="Dataset code, see `marsad catalog list`.")
@click.option("--institution", "-i", required=True, help="Submitting institution's code.")
@click.option("--user", help="Act as this local account instead of the operator.")
@click.option("--replaces", type=ID, help="The rejected submission this file corrects.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the row-level report here (.csv or .json).")
@click.option("--encoding", help="The CSV's character encoding (utf-8, windows-1256, windows-1252, latin-1), "
                                 "when the file's bytes cannot tell.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@LANG_OPTION
def ingest_command(file, dataset, institution, user, replaces, report_path, encoding, as_json, lang):
    """Archive FILE, validate it against DATASET and load it, all or nothing.

    Exit 0 when loaded, 1 when rejected or a duplicate, 3 when the policies refuse it, 4 for an unknown dataset.
    """
    catalog = default_catalog()
    if dataset not in catalog.datasets:
        click.echo(f"unknown dataset {dataset!r}; see `marsad catalog list`", err=True)
        sys.exit(EXIT_NOT_FOUND)
    principal = operator(institution, "submitter", user)
    console = Console(stderr=True)
    started = time.perf_counter()
    with console.status(f"reading {file.name}…") as status:
        def progress(rows):
            rate = rows / max(time.perf_counter() - started, 1e-6)
            status.update(f"{file.name}: {rows:,} rows read ({rate:,.0f} rows/s)")
        try:
            result = ingest(file, dataset=dataset, institution=institution, principal=principal,
                            catalog=catalog, progress=progress, replaces=replaces, encoding=encoding)
        except SubmissionDenied as err:
            click.echo(f"refused: {err}", err=True)
            sys.exit(EXIT_DENIED)
        except IngestInterrupted as err:
            click.echo(f"interrupted: {err}", err=True)
            sys.exit(EXIT_PROBLEMS)
    elapsed = time.perf_counter() - started
    sub = result.submission
    lines = report_lines(result.problems, catalog, dataset, lang)
    if report_path:
        data = report_csv(lines, lang) if report_path.suffix == ".csv" else None
        if data is None:
            import json
            data = json.dumps(lines, ensure_ascii=False, indent=2).encode()
        report_path.write_bytes(data)
    if as_json:
        emit_json({"submission": sub.id, "status": sub.status, "duplicate_of": result.duplicate_of and sub.id,
                   "rows": sub.rows_total, "loaded": sub.rows_loaded, "errors": sub.errors_count,
                   "sha256": sub.file_sha256, "seconds": round(elapsed, 3), "problems": lines[:100]})
    elif result.duplicate_of is not None:
        click.echo(lines[0]["message"] if lines else f"duplicate of submission {sub.id}")
    else:
        click.echo(f"submission {sub.id}: {sub.status}, {sub.rows_total:,} rows, {sub.rows_loaded:,} loaded, "
                   f"{sub.errors_count:,} errors in {elapsed:.1f} s")
        for line in lines[:20]:
            click.echo(f"  row {line['row'] or '-'}  {line['field'] or ''}  {line['message']}")
        if len(lines) > 20:
            click.echo(f"  … {sub.errors_count - 20:,} more (use --report FILE)")
    sys.exit(0 if result.valid else EXIT_PROBLEMS)


@click.group("submissions")
def submissions() -> None:
    """List submissions and move them through the workflow."""


@submissions.command("list")
@click.option("--institution", "-i")
@click.option("--dataset", "-d")
@click.option("--status", "-s")
@click.option("--json", "as_json", is_flag=True)
def list_submissions(institution, dataset, status, as_json):
    """Submissions, newest first."""
    with db.session() as s:
        query = select(Submission).order_by(Submission.id.desc())
        for column, value in ((Submission.institution, institution), (Submission.dataset, dataset),
                              (Submission.status, status)):
            if value:
                query = query.where(column == value)
        rows = list(s.exec(query))
    if as_json:
        emit_json([r.model_dump() for r in rows])
        return
    for r in rows:
        click.echo(f"{r.id:>5}  {r.institution:<8} {r.dataset:<24} {r.status:<10} {r.rows_total:>9,} rows "
                   f"{r.errors_count:>7,} errors  {r.submitted_at:%Y-%m-%d %H:%M}  {r.filename}")


@submissions.command("recover")
def recover():
    """Reject, with a reference, the submissions left in `submitted` by a process that died."""
    from services.workflow import recover_interrupted

    recovered = recover_interrupted(db.default_engine())
    for submission_id in recovered:
        click.echo(f"submission {submission_id}: rejected (interrupted, reference submission-{submission_id})")
    click.echo(f"{len(recovered)} interrupted submission(s) recovered")


@submissions.command("show")
@click.argument("submission_id", type=ID)
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path))
@LANG_OPTION
def show(submission_id, report_path, lang):
    """A submission, its workflow history and its errors."""
    with db.session() as s:
        sub = s.get(Submission, submission_id)
        if sub is None:
            click.echo(f"no submission {submission_id}", err=True)
            sys.exit(EXIT_NOT_FOUND)
        errors = list(s.exec(select(RowError).where(RowError.submission_id == sub.id).order_by(RowError.id)))
        events = history(s, sub.id)
    click.echo(f"submission {sub.id}: {sub.dataset} from {sub.institution}, {sub.status}")
    click.echo(f"  file {sub.filename} ({sub.file_size:,} bytes, sha256 {sub.file_sha256})")
    for e in events:
        click.echo(f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.from_status or '-':>9} -> {e.to_status:<9} {e.actor}"
                   + (f"  «{e.reason}»" if e.reason else ""))
    lines = report_lines(errors, default_catalog(), sub.dataset, lang)
    for line in lines[:20]:
        click.echo(f"  row {line['row'] or '-'}  {line['field'] or ''}  {line['message']}")
    if report_path:
        report_path.write_bytes(report_csv(lines, lang))


def _move_command(action: str, role: str, help_text: str):
    @submissions.command(action, help=help_text)
    @click.argument("submission_id", type=ID)
    @click.option("--user", help="Act as this local account instead of the operator.")
    @click.option("--reason", help="Why (required to reject).")
    def command(submission_id, user, reason):
        with db.session() as s:
            sub = s.get(Submission, submission_id)
            if sub is None:
                click.echo(f"no submission {submission_id}", err=True)
                sys.exit(EXIT_NOT_FOUND)
            institution = "ONM" if role == "onm_analyst" else sub.institution
            try:
                sub = move(s, submission_id, action, operator(institution, role, user), reason=reason)
            except WorkflowError as err:
                click.echo(f"{action} refused: {err}", err=True)
                sys.exit(EXIT_DENIED if err.code == "denied" else EXIT_PROBLEMS)
        click.echo(f"submission {sub.id}: {sub.status}")

    return command


_move_command("approve", "focal_point", "Approve a validated submission (the institution's focal point).")
_move_command("accept", "onm_analyst", "Accept an approved submission into the indicators (the ONM).")
_move_command("reject", "onm_analyst", "Reject a validated or approved submission, with --reason.")

COMMANDS = [ingest_command, submissions]
