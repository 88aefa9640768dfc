"""Ingestion of a partner's file: archive, validate, load — in that order, all or nothing.

1. The policy decision is asked whether the principal may submit this dataset for this institution.
2. The raw bytes are archived in the object store, content-addressed by sha256, before
   anything else reads them: whatever happens next, nothing the partner sent is lost.
3. The same bytes already submitted for the same dataset and institution are recognised
   and not loaded twice.
4. Rows are validated and streamed into the dataset table in one transaction, committed
   only if every row is valid; otherwise the submission is rejected with a row-level report.
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

from sqlalchemy.engine import Engine
from sqlmodel import select

from services import audit, db
from services.catalog import Catalog, default_catalog
from services.config import settings
from services.datasets_db import dataset_table
from services.ingest.fields import FieldError
from services.ingest.loader import exit_before_entry, write_rows
from services.ingest.reader import open_rows, sniff_file
from services.ingest.validate import FileRejected, Problem, RowValidator, find_header
from services.models import RowError, Status, Submission, SubmissionEvent
from services.policy import Principal, Resource, decide, load_policies
from services.workflow import record_move

log = logging.getLogger(__name__)
Progress = Callable[[int], None]  # called with the number of rows read so far


class SubmissionDenied(PermissionError):
    """The policy decision refused this submission."""


@dataclass
class IngestResult:
    submission: Submission
    duplicate_of: Submission | None = None
    problems: list[Problem] = field(default_factory=list)  # at most MARSAD_MAX_STORED_ERRORS of them

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
        with open(path, "rb") as fh:
            stored = store.put_raw(institution, fh, filename=filename)
        with db.session(engine) as s:
            earlier = s.exec(select(Submission).where(
                Submission.file_sha256 == stored.sha256, Submission.dataset == dataset,
                Submission.institution == institution).order_by(Submission.id)).first()
            if earlier is not None and encoding and earlier.status == Status.rejected.value:
                earlier = None  # the same bytes again, read as the uploader now says: not a duplicate
            submission = Submission(dataset=dataset, institution=institution, filename=filename,
                                    file_sha256=stored.sha256, file_key=stored.key, file_size=stored.size,
                                    submitted_by=principal.username, replaces_id=replaces)
            if earlier is not None:
                audit.record(s, actor=principal.username, institution=institution, action="submission.duplicate",
                             target=f"submission:{earlier.id}", details={"sha256": stored.sha256})
                return IngestResult(submission=earlier, duplicate_of=earlier,
                                    problems=[Problem(None, None, None, "duplicate_file",
                                                      {"sha256": stored.sha256, "submission": earlier.id})])
            s.add(submission)
            s.commit()
            s.add(SubmissionEvent(submission_id=submission.id, to_status=Status.submitted.value,
                                  actor=principal.username))
            s.commit()
            audit.record(s, actor=principal.username, institution=institution, action="submission.create",
                         target=f"submission:{submission.id}",
                         details={"dataset": dataset, "sha256": stored.sha256, "filename": filename})
        problems, total, loaded, shape = _validate_and_load(path, definition, catalog, engine, submission,
                                                            progress, encoding)

    max_stored = settings().max_stored_errors
    with db.session(engine) as s:
        submission = s.get(Submission, submission.id)
        submission.file_format = shape.format if shape else "unknown"
        submission.encoding = shape.encoding if shape else None
        submission.rows_total = total
        submission.rows_loaded = 0 if problems else loaded
        submission.errors_count = len(problems)
        for p in problems[:max_stored]:
            s.add(RowError(submission_id=submission.id, row_number=p.row, field=p.field, value=p.value,
                           code=p.code, params=p.params))
        record_move(s, submission, Status.rejected if problems else Status.validated, "system:validation")
        s.commit()
        audit.record(s, actor="system:validation", institution=institution,
                     action="submission.rejected" if problems else "submission.validated",
                     target=f"submission:{submission.id}",
                     details={"rows": total, "errors": len(problems)})
    return IngestResult(submission=submission, problems=problems[:max_stored])


def _check_replacement(engine, replaces: int, dataset: str, institution: str) -> None:
    """A corrected file replaces a rejected submission of the same dataset and institution."""
    with db.session(engine) as s:
        earlier = s.get(Submission, replaces)
    if earlier is None or earlier.dataset != dataset or earlier.institution != institution:
        raise ValueError(f"submission {replaces} is not a {dataset} submission of {institution}")
    if earlier.status != Status.rejected.value:
        raise ValueError(f"submission {replaces} is {earlier.status}; only a rejected submission can be replaced")


def _validate_and_load(path: Path, definition, catalog, engine, submission, progress, encoding=None):
    """Returns (problems, rows read, rows loaded, file shape); commits rows only when there is no problem."""
    problems: list[Problem] = []
    shape = None
    total = loaded = 0
    # The load allocates millions of short-lived tuples and no reference cycles: the cyclic
    # garbage collector would only walk them again and again (a third of the time measured).
    collecting = gc.isenabled()
    gc.disable()
    try:
        shape = sniff_file(path, encoding)
        with open_rows(path, shape) as rows, engine.connect() as conn:
            header = find_header(definition, rows)
            validator = RowValidator(definition, catalog, header, provenance=(submission.id, submission.institution),
                                     progress=progress, as_text=engine.dialect.name == "postgresql")
            table = dataset_table(definition)
            transaction = conn.begin()
            try:
                batches = validator.validate(rows.batches(validator.width), problems)
                loaded = write_rows(conn, table, definition, batches, problems)
                if not problems and not validator.rows_seen:  # a header and nothing under it
                    problems.append(Problem(header.row, None, None, "no_data_rows", {}))
                if not problems:
                    for rule in definition.rules:
                        if rule.kind == "exit_not_before_entry" and all(f in header.columns for f in rule.fields):
                            problems.extend(exit_before_entry(conn, table, rule.params, submission.id))
            except BaseException:
                transaction.rollback()
                raise
            if problems:
                transaction.rollback()
            else:
                transaction.commit()
        total = validator.rows_seen
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
    problems.sort(key=lambda p: (p.row or 0))
    return problems, max(total, 0), loaded, shape


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
