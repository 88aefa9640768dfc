"""Ingestion of a partner's file: archive, validate, load — in that order, all or nothing.

1. The policy decision is asked whether the principal may submit this dataset for this institution.
2. The raw bytes are archived in the object store, content-addressed by sha256, before
   anything else reads them: whatever happens next, nothing the partner sent is lost.
3. The same bytes already submitted for the same dataset and institution are recognised
   and not loaded twice.
4. Rows are validated and streamed into the dataset table in one transaction, committed
   only if every row is valid, together with the move to `validated`; otherwise the
   submission is rejected with a row-level report. The report keeps the first
   MARSAD_MAX_STORED_ERRORS problems and counts the others by code and field, so that memory
   does not grow with the errors.
5. A process that dies meanwhile leaves its submission in `submitted` without its lock; the
   next ingestion (or `marsad submissions recover`) rejects it with a reference, and the same
   bytes are then accepted again (services/workflow.py).
"""
from __future__ import annotations

import gc
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from sqlalchemy import exists
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from services import audit, db
from services.catalog import Catalog, default_catalog
from services.config import settings
from services.datasets_db import dataset_table
from services.ingest.fields import FieldError
from services.ingest.loader import exit_before_entry, left_out_may_matter, write_rows
from services.ingest.reader import open_rows, sniff_file
from services.ingest.validate import FileRejected, Problem, Problems, RowValidator, find_header
from services.models import RowError, Status, Submission, SubmissionEvent
from services.policy import Principal, Resource, decide, load_policies
from services.workflow import FAULTS, SubmissionLock, leave_submitted, recover_interrupted

log = logging.getLogger(__name__)
Progress = Callable[[int], None]  # called with the number of rows read so far


class SubmissionDenied(PermissionError):
    """The policy decision refused this submission."""


@dataclass
class IngestResult:
    submission: Submission
    duplicate_of: Submission | None = None
    # at most MARSAD_MAX_STORED_ERRORS of them, then one `more_errors` line per (code, field) only counted
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.submission.status != Status.rejected.value and self.duplicate_of is None


def ingest(source: Path | str | BinaryIO, *, dataset: str, institution: str, principal: Principal,
           filename: str | None = None, engine: Engine | None = None, store=None, catalog: Catalog | None = None,
           policies=None, progress: Progress | None = None, replaces: int | None = None,
           encoding: str | None = None) -> IngestResult:
    """`encoding`: a CSV's character encoding as the uploader names it, when the bytes cannot tell."""
    from services.storage import store_from_env

    catalog = catalog or default_catalog()
    policies = policies or load_policies()
    engine = engine or db.default_engine()
    store = store or store_from_env()
    definition = catalog.dataset(dataset)
    if replaces is not None:
        _check_replacement(engine, replaces, dataset, institution)
    decision = decide(policies, principal, "submission.create",
                      Resource("dataset", institution=institution, dataset=dataset))
    if not decision:
        with db.session(engine) as s:
            audit.record(s, actor=principal.username, institution=principal.institution,
                         action="submission.create.denied", target=f"dataset:{dataset}",
                         details={"for_institution": institution, "reason": decision.reason})
        raise SubmissionDenied(decision.reason)

    with _local_copy(source) as path:
        filename = filename or (Path(source).name if isinstance(source, (str, Path)) else "upload")
        with open(path, "rb") as fh:  # first of all: if the store fails, nothing else has happened
            stored = store.put_raw(institution, fh, filename=filename)
        # An earlier copy of these bytes whose process died is rejected now, so it is no duplicate.
        recover_interrupted(engine, catalog=catalog)
        with db.session(engine) as s:
            earlier = s.exec(select(Submission).where(
                Submission.file_sha256 == stored.sha256, Submission.dataset == dataset,
                Submission.institution == institution, ~_rejected_for_a_fault()).order_by(Submission.id)).first()
            if earlier is not None and encoding and earlier.status == Status.rejected.value:
                earlier = None  # the same bytes again, read as the uploader now says: not a duplicate
            if earlier is not None:
                audit.record(s, actor=principal.username, institution=institution, action="submission.duplicate",
                             target=f"submission:{earlier.id}", details={"sha256": stored.sha256})
                return IngestResult(submission=earlier, duplicate_of=earlier,
                                    problems=[Problem(None, None, None, "duplicate_file",
                                                      {"sha256": stored.sha256, "submission": earlier.id})])
            submission = Submission(dataset=dataset, institution=institution, filename=filename,
                                    file_sha256=stored.sha256, file_key=stored.key, file_size=stored.size,
                                    submitted_by=principal.username, replaces_id=replaces)
            s.add(submission)
            s.flush()
            # Locked before anyone can see it in `submitted`, so it is never taken for interrupted.
            lock = SubmissionLock(engine, submission.id)
            if not lock.acquire():
                raise RuntimeError(f"submission {submission.id} is locked already")
            try:
                s.add(SubmissionEvent(submission_id=submission.id, to_status=Status.submitted.value,
                                      actor=principal.username))
                s.commit()
            except BaseException:
                lock.release()
                raise
        try:
            with db.session(engine) as s:
                audit.record(s, actor=principal.username, institution=institution,
                             action="submission.create", target=f"submission:{submission.id}",
                             details={"dataset": dataset, "sha256": stored.sha256, "filename": filename})
            return _validate_and_load(path, definition, catalog, engine, submission, progress, encoding)
        except SQLAlchemyError as err:  # the database went away while the outcome was being written
            raise IngestInterrupted(submission.id) from err
        finally:
            lock.release()


class IngestInterrupted(RuntimeError):
    """The database failed before the submission's outcome was recorded. Nothing of it is loaded
    and its file is archived; it is rejected with its reference once the database is back (see
    workflow.recover_interrupted), and the same file may then be submitted again."""

    def __init__(self, submission_id: int):
        self.submission_id, self.reference = submission_id, f"submission-{submission_id}"
        super().__init__(f"{self.reference}: the database failed during the load; nothing was loaded and the file "
                         "is archived; submit the same file again once the database is back")


def _rejected_for_a_fault():
    """Submissions rejected for a fault of the system (not of the file): a retry is no duplicate."""
    return exists().where(RowError.submission_id == Submission.id, RowError.code.in_(FAULTS))


def _check_replacement(engine, replaces: int, dataset: str, institution: str) -> None:
    """A corrected file replaces a rejected submission of the same dataset and institution."""
    with db.session(engine) as s:
        earlier = s.get(Submission, replaces)
    if earlier is None or earlier.dataset != dataset or earlier.institution != institution:
        raise ValueError(f"submission {replaces} is not a {dataset} submission of {institution}")
    if earlier.status != Status.rejected.value:
        raise ValueError(f"submission {replaces} is {earlier.status}; only a rejected submission can be replaced")


def _validate_and_load(path: Path, definition, catalog, engine, submission, progress,
                       encoding=None) -> IngestResult:
    """Validate the file and load its rows; the rows are committed only with the move to `validated`."""
    problems = Problems(settings().max_stored_errors)
    shape = None
    total = 0
    exit_check_partial = False  # the exit check saw only the rows without errors
    # The load allocates millions of short-lived tuples and no reference cycles: the cyclic
    # garbage collector would only walk them again and again (a third of the time measured).
    collecting = gc.isenabled()
    gc.disable()
    try:
        shape = sniff_file(path, encoding)
        with open_rows(path, shape) as rows, engine.connect() as conn:
            header = find_header(definition, rows)
            exit_rules = [rule for rule in definition.rules
                          if rule.kind == "exit_not_before_entry" and all(f in header.columns for f in rule.fields)]
            # The exit check runs in SQL over the rows written: with row errors too, it is given the
            # valid rows, so that a partner gets every error in one report rather than a second round.
            validator = RowValidator(definition, catalog, header, provenance=(submission.id, submission.institution),
                                     progress=progress, as_text=engine.dialect.name == "postgresql",
                                     exit_fields=(exit_rules[0].params["person"], exit_rules[0].params["direction"])
                                     if exit_rules else ())
            table = dataset_table(definition)
            transaction = conn.begin()
            try:
                loaded = write_rows(conn, table, definition, validator.validate(rows.batches(validator.width),
                                                                                problems))
                total = validator.rows_seen
                if not problems and not total:  # a header and nothing under it
                    problems.append(Problem(header.row, None, None, "no_data_rows", {}))
                for rule in exit_rules:
                    found = exit_before_entry(conn, table, rule.params, submission.id)
                    if problems:  # said plainly when correcting the rows left out may change the findings
                        exit_check_partial = left_out_may_matter(conn, table, rule.params, submission.id,
                                                                 validator.left_out, found)
                        # an entry left out may fall between a person's two exits: not reported as
                        # wrong, the check that follows on the corrected file decides
                        found = [p for p in found if p.params["person"] not in validator.left_out.entries]
                    problems.extend(found)
                if not problems:
                    # the rows and the move to `validated` are committed together, or neither is
                    with Session(bind=conn) as s:
                        finished = leave_submitted(s, submission.id, Status.validated, "system:validation",
                                                   **_shape(shape), rows_total=total, rows_loaded=loaded,
                                                   errors_count=0)
                        s.flush()
                    if finished:
                        transaction.commit()
                        return _validated(engine, submission.id, total)
                transaction.rollback()
            except BaseException:
                transaction.rollback()
                raise
    except FileRejected as err:
        problems.extend(err.problems)
    except FieldError as err:
        problems.append(Problem(err.params.pop("row", None), None, None, err.code, err.params))
    except Exception:  # a fault of ours, not of the file: reject, keep the file, leave a trace to find
        reference = f"submission-{submission.id}"
        log.exception("loading %s failed", reference)
        problems.append(Problem(None, None, None, "load_failed", {"reference": reference}))
    finally:
        if collecting:
            gc.enable()
    return _rejected(engine, submission.id, problems, max(total, 0), shape, exit_check_partial)


def _shape(shape) -> dict:
    return {"file_format": shape.format if shape else "unknown", "encoding": shape.encoding if shape else None}


def _validated(engine, submission_id: int, total: int) -> IngestResult:
    with db.session(engine) as s:
        submission = s.get(Submission, submission_id)
        audit.record(s, actor="system:validation", institution=submission.institution,
                     action="submission.validated", target=f"submission:{submission_id}",
                     details={"rows": total, "errors": 0})
    return IngestResult(submission=submission)


def _rejected(engine, submission_id: int, problems: Problems, total: int, shape, exit_check_partial: bool):
    """Record the rejection: the problems kept, one line per (code, field) for those only counted."""
    lines = sorted(problems.kept, key=lambda p: p.row or 0)
    lines += [Problem(None, field, None, "more_errors", {"count": count, "kind": code})
              for (code, field), count in sorted(problems.more.items(), key=lambda item: (item[0][0], item[0][1] or ""))]
    if exit_check_partial:
        lines.append(Problem(None, None, None, "exit_check_partial"))
    with db.session(engine) as s:
        moved = leave_submitted(s, submission_id, Status.rejected, "system:validation", **_shape(shape),
                                rows_total=total, rows_loaded=0, errors_count=len(problems))
        if moved:
            s.add_all(RowError(submission_id=submission_id, row_number=p.row, field=p.field, value=p.value,
                               code=p.code, params=p.params) for p in lines)
        s.commit()
        submission = s.get(Submission, submission_id)
        if not moved:  # recovered meanwhile as interrupted: this process had lost its lock with the database
            return IngestResult(submission=submission, problems=lines)
        audit.record(s, actor="system:validation", institution=submission.institution,
                     action="submission.rejected", target=f"submission:{submission_id}",
                     details={"rows": total, "errors": len(problems)})
    return IngestResult(submission=submission, problems=lines)


class _local_copy:
    """A path on disk for the source: calamine and the two-pass encoding check need one."""

    def __init__(self, source):
        self.source, self.tmp = source, None

    def __enter__(self) -> Path:
        if isinstance(self.source, (str, Path)):
            return Path(self.source)
        fd, name = tempfile.mkstemp(prefix="marsad-upload-")
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(self.source, out, 1 << 20)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, *exc):
        if self.tmp:
            self.tmp.unlink(missing_ok=True)
