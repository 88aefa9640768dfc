"""Scripted exercises and each trainee's progress on them.

Exercises are data (services/sandbox/exercises/*.yaml): a code, a title and instructions in
ar/fr/en, and the name of a check with its parameters. A check reads the sandbox's own
database and audit trail, never anything the trainee reports, and answers for one trainee:
`done`, `started` (the first step is there) or `todo`.

Reads of indicator tables and their exports are recorded in the sandbox's audit trail by the
sandbox portal's exercise pages (portal/progress.py): the real portal does not audit reads of
aggregates, so exercises (c) and (d) are checked against those entries.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml
from sqlmodel import Session, select

from services.languages import LANGUAGES
from services.models import AuditEntry, Status, Submission, SubmissionEvent

EXERCISES_DIR = Path(__file__).with_name("exercises")
DONE, STARTED, TODO = "done", "started", "todo"
# Levels at which indicator tables are shown with disclosure control (services.disclosure).
PROTECTED_LEVELS = ("published", "aggregates")


@dataclass(frozen=True)
class Outcome:
    state: str          # DONE | STARTED | TODO
    detail: str = ""    # what the check saw, for the trainer


@dataclass(frozen=True)
class Exercise:
    code: str
    order: int
    title: dict
    instructions: dict
    check: str
    params: dict = field(default_factory=dict)

    def text(self, what: str, lang: str) -> str:
        texts = getattr(self, what)
        return texts.get(lang) or texts["en"]


Check = Callable[[Session, str, dict], Outcome]
CHECKS: dict[str, Check] = {}


def check(name: str):
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn
    return register


def load_exercises(directory: Path | None = None) -> list[Exercise]:
    directory = directory or EXERCISES_DIR
    found = []
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        problems = [f"{key} is required" for key in ("code", "order", "title", "instructions", "check") if key not in raw]
        problems += [f"{what} lacks {lang}" for what in ("title", "instructions") for lang in LANGUAGES
                     if lang not in (raw.get(what) or {})]
        if raw.get("check") not in CHECKS:
            problems.append(f"unknown check {raw.get('check')!r}; known: {', '.join(sorted(CHECKS))}")
        if problems:
            raise ValueError(f"{path}: " + "; ".join(problems))
        found.append(Exercise(code=raw["code"], order=int(raw["order"]), title=raw["title"],
                              instructions=raw["instructions"], check=raw["check"], params=raw.get("params") or {}))
    codes = [e.code for e in found]
    if len(set(codes)) != len(codes):
        raise ValueError(f"{directory}: two exercises share a code")
    return sorted(found, key=lambda e: e.order)


def evaluate(session: Session, exercise: Exercise, username: str) -> Outcome:
    return CHECKS[exercise.check](session, username, exercise.params)


def progress(session: Session, usernames: list[str], exercises: list[Exercise] | None = None) -> dict[str, dict[str, Outcome]]:
    """{username: {exercise code: Outcome}} for every trainee and exercise."""
    exercises = exercises if exercises is not None else load_exercises()
    return {user: {e.code: evaluate(session, e, user) for e in exercises} for user in usernames}


# --- the checks -------------------------------------------------------------------------------

def _submissions_of(session: Session, username: str, dataset: str | None) -> list[Submission]:
    query = select(Submission).where(Submission.submitted_by == username)
    if dataset:
        query = query.where(Submission.dataset == dataset)
    return list(session.exec(query.order_by(Submission.id)))


@check("rejected_then_replaced")
def rejected_then_replaced(session: Session, username: str, params: dict) -> Outcome:
    """A submission of the trainee was rejected, and a later one of the trainee replaces it and passed."""
    mine = _submissions_of(session, username, params.get("dataset"))
    rejected = {s.id: s for s in mine if s.status == Status.rejected.value}
    passed = {Status.validated.value, Status.approved.value, Status.accepted.value}
    for sub in mine:
        if sub.replaces_id in rejected and sub.status in passed:
            first = rejected[sub.replaces_id]
            return Outcome(DONE, f"submission {first.id} rejected ({first.errors_count} errors), "
                                 f"replaced by {sub.id} ({sub.status})")
    if rejected:
        last = max(rejected.values(), key=lambda s: s.id)
        return Outcome(STARTED, f"submission {last.id} rejected ({last.errors_count} errors), not replaced yet")
    return Outcome(TODO)


@check("approved_then_accepted")
def approved_then_accepted(session: Session, username: str, params: dict) -> Outcome:
    """A submission of the trainee went through approval (focal point) and then acceptance (ONM)."""
    mine = _submissions_of(session, username, params.get("dataset"))
    best = None
    for sub in mine:
        steps = [e.to_status for e in session.exec(select(SubmissionEvent).where(
            SubmissionEvent.submission_id == sub.id).order_by(SubmissionEvent.id))]
        if Status.approved.value in steps and Status.accepted.value in steps[steps.index(Status.approved.value):]:
            return Outcome(DONE, f"submission {sub.id} approved then accepted")
        if Status.approved.value in steps:
            best = Outcome(STARTED, f"submission {sub.id} approved, waiting for acceptance")
        elif best is None and sub.status == Status.validated.value:
            best = Outcome(STARTED, f"submission {sub.id} validated, waiting for approval")
    return best or Outcome(TODO)


def _audited(session: Session, username: str, action: str, indicator: str | None) -> list[AuditEntry]:
    entries = session.exec(select(AuditEntry).where(AuditEntry.actor == username, AuditEntry.action == action)
                           .order_by(AuditEntry.id))
    return [e for e in entries if indicator is None or (e.details or {}).get("indicator") == indicator]


@check("indicator_read_protected")
def indicator_read_protected(session: Session, username: str, params: dict) -> Outcome:
    """The trainee opened the indicator's table as shown under disclosure control."""
    reads = _audited(session, username, "indicator.read", params.get("indicator"))
    protected = [e for e in reads if (e.details or {}).get("level") in PROTECTED_LEVELS]
    if protected:
        d = protected[-1].details
        return Outcome(DONE, f"read {d.get('indicator')} at level {d.get('level')}, "
                             f"{d.get('suppressed', 0)} cells suppressed")
    if reads:
        return Outcome(STARTED, "read the table, but at a microdata level: not under disclosure control")
    return Outcome(TODO)


@check("indicator_exported")
def indicator_exported(session: Session, username: str, params: dict) -> Outcome:
    """The trainee downloaded the indicator's table (with its suppressions) in an export format."""
    exports = _audited(session, username, "indicator.export", params.get("indicator"))
    if exports:
        d = exports[-1].details
        return Outcome(DONE, f"exported {d.get('indicator')} as {d.get('format')}")
    if _audited(session, username, "indicator.read", params.get("indicator")):
        return Outcome(STARTED, "read the table, not exported yet")
    return Outcome(TODO)
