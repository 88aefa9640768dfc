"""Releases: what the ONM publishes, frozen. draft -> approved -> published (on a release date).

* A draft copies the indicator's current cells (all of them, or those a scope selects) into
  release_cell. Nothing writes them again: published figures never change.
* Approval and publication are acts of the observatory (policy action indicator.publish).
  The approver must not be the person who drafted (FOUR_EYES): the approval is a second look.
* Publication sets the release date. Before it the release is under embargo: only readers
  who may publish see it. On and after it, every reader with indicator.read does.
* A revision is a new version with a note saying what changed; every version stays readable.

Every step is recorded in the audit trail, and so is every refusal.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, insert, literal, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as select_model

from services import audit, db
from services.indicators.aggregate import CELL, select_cells
from services.indicators.definitions import Indicator, default_indicators, indicator as find_indicator
from services.indicators.table import TOTAL, IndicatorTable
from services.models import utcnow
from services.models_indicators import DIMENSION_COLUMNS, Release, ReleaseCell
from services.policy import Principal, Resource, decide, load_policies

RELEASE = Release.__table__
RELEASE_CELL = ReleaseCell.__table__
DRAFT, APPROVED, PUBLISHED = "draft", "approved", "published"
FOUR_EYES = True  # the approver is someone other than the drafter
_COPIED = ("year", "month", "grouping", *DIMENSION_COLUMNS, "value", "observations")


class ReleaseError(Exception):
    """A release step refused; `code` is stable for scripts and the API:
    denied, not_found, wrong_status, note_required, same_person, empty, bad_date, bad_scope."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _definitions(definitions):
    return definitions if definitions is not None else default_indicators()


def _resource(ind: Indicator) -> Resource:
    return Resource("indicator", dataset=ind.dataset)


def _may_publish(policies, principal: Principal, ind: Indicator) -> bool:
    return bool(decide(policies, principal, "indicator.publish", _resource(ind)))


def _authorise(s: Session, policies, principal: Principal, ind: Indicator, step: str) -> None:
    decision = decide(policies, principal, "indicator.publish", _resource(ind))
    if not decision:
        audit.record(s, actor=principal.username, institution=principal.institution,
                     action="indicator.publish.denied", target=f"indicator:{ind.code}",
                     details={"step": step, "reason": decision.reason})
        raise ReleaseError("denied", decision.reason)


def _scope_clauses(ind: Indicator, scope: dict) -> list:
    names = ("year", "month", *ind.dimension_names)
    unknown = [k for k in scope if k not in names]
    if unknown:
        raise ReleaseError("bad_scope", f"indicator {ind.code} has no dimension {', '.join(unknown)}")
    clauses = []
    for key, value in scope.items():
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        if key in ("year", "month"):
            clauses.append(CELL.c[key].in_([int(v) for v in values]))
        else:
            clauses.append(CELL.c[DIMENSION_COLUMNS[ind.dimension_names.index(key)]].in_([str(v) for v in values]))
    return clauses


def create_release(engine: Engine, indicator: str, scope: dict | None, principal: Principal, *,
                   note: str | None = None, policies=None, definitions=None) -> Release:
    """A draft freezing the indicator's current cells within `scope` (e.g. {"year": 2024}; None: all)."""
    ind = find_indicator(indicator, _definitions(definitions))
    policies = policies or load_policies()
    scope = dict(scope or {})
    with db.session(engine) as s:
        _authorise(s, policies, principal, ind, "create")
        clauses = _scope_clauses(ind, scope)
        versions = s.execute(select(RELEASE.c.version, RELEASE.c.status).where(RELEASE.c.indicator == ind.code)).all()
        if any(status == PUBLISHED for _, status in versions) and not (note and note.strip()):
            raise ReleaseError("note_required", f"{ind.code} has a published version: a revision says what changed")
        release = Release(indicator=ind.code, version=max((v for v, _ in versions), default=0) + 1,
                          status=DRAFT, scope=scope, note=note, created_by=principal.username)
        s.add(release)
        s.flush()
        copied = select(literal(release.id), *[CELL.c[c] for c in _COPIED]).where(
            CELL.c.indicator == ind.code, *clauses)
        s.execute(insert(RELEASE_CELL).from_select(["release_id", *_COPIED], copied))
        release.cells = s.execute(select(func.count()).select_from(RELEASE_CELL)
                                  .where(RELEASE_CELL.c.release_id == release.id)).scalar_one()
        if not release.cells:
            s.rollback()
            raise ReleaseError("empty", f"no computed cells of {ind.code} in scope {scope}: refresh first?")
        s.commit()
        audit.record(s, actor=principal.username, institution=principal.institution,
                     action="indicator.release.create", target=f"release:{ind.code}:{release.version}",
                     details={"scope": scope, "cells": release.cells, "note": note})
        return release


def _get(s: Session, ind: Indicator, version: int) -> Release:
    release = s.exec(select_model(Release).where(Release.indicator == ind.code, Release.version == version)).first()
    if release is None:
        raise ReleaseError("not_found", f"{ind.code} has no version {version}")
    return release


def approve_release(engine: Engine, indicator: str, version: int, principal: Principal, *,
                    policies=None, definitions=None) -> Release:
    ind = find_indicator(indicator, _definitions(definitions))
    policies = policies or load_policies()
    with db.session(engine) as s:
        _authorise(s, policies, principal, ind, "approve")
        release = _get(s, ind, version)
        if release.status != DRAFT:
            raise ReleaseError("wrong_status", f"{ind.code} v{version} is {release.status}; only a draft is approved")
        if FOUR_EYES and release.created_by == principal.username:
            raise ReleaseError("same_person", f"{principal.username} drafted {ind.code} v{version}: "
                                              "someone else approves it")
        release.status, release.approved_by, release.approved_at = APPROVED, principal.username, utcnow()
        s.add(release)
        s.commit()
        audit.record(s, actor=principal.username, institution=principal.institution,
                     action="indicator.release.approve", target=f"release:{ind.code}:{version}")
        return release


def publish(engine: Engine, indicator: str, version: int, principal: Principal, *,
            release_date: dt.date | None = None, today: dt.date | None = None, policies=None,
            definitions=None) -> Release:
    """Publish an approved version on `release_date` (default today); before that day it is embargoed."""
    ind = find_indicator(indicator, _definitions(definitions))
    policies = policies or load_policies()
    today = today or dt.date.today()
    release_date = release_date or today
    with db.session(engine) as s:
        _authorise(s, policies, principal, ind, "publish")
        release = _get(s, ind, version)
        if release.status != APPROVED:
            raise ReleaseError("wrong_status", f"{ind.code} v{version} is {release.status}; "
                                               "only an approved version is published")
        if release_date < today:
            raise ReleaseError("bad_date", f"a release date is today or later, not {release_date}")
        release.status, release.release_date = PUBLISHED, release_date
        release.published_by, release.published_at = principal.username, utcnow()
        s.add(release)
        s.commit()
        audit.record(s, actor=principal.username, institution=principal.institution,
                     action="indicator.release.publish", target=f"release:{ind.code}:{version}",
                     details={"release_date": release_date.isoformat()})
        return release


def _visible(release: Release, privileged: bool, as_of: dt.date) -> bool:
    if privileged:
        return True
    return release.status == PUBLISHED and release.release_date is not None and release.release_date <= as_of


def list_releases(engine: Engine, indicator: str | None = None, *, principal: Principal | None = None,
                  as_of: dt.date | None = None, policies=None, definitions=None) -> list[Release]:
    """Versions a principal may see (all of them without a principal: the operator's view), oldest first."""
    as_of = as_of or dt.date.today()
    definitions = _definitions(definitions)
    policies = policies or (load_policies() if principal is not None else None)
    with db.session(engine) as s:
        stmt = select_model(Release).order_by(Release.indicator, Release.version)
        if indicator:
            stmt = stmt.where(Release.indicator == indicator)
        releases = list(s.exec(stmt))
    if principal is None:
        return releases
    out = []
    for r in releases:
        ind = definitions.get(r.indicator)
        if ind is None or not decide(policies, principal, "indicator.read", _resource(ind)):
            continue
        if _visible(r, _may_publish(policies, principal, ind), as_of):
            out.append(r)
    return out


def _find_visible(engine, ind: Indicator, version, principal, as_of, policies) -> Release:
    if not decide(policies, principal, "indicator.read", _resource(ind)):
        raise ReleaseError("denied", f"{principal.username} may not read {ind.code}")
    privileged = _may_publish(policies, principal, ind)
    with db.session(engine) as s:
        stmt = select_model(Release).where(Release.indicator == ind.code)
        if version is not None:
            stmt = stmt.where(Release.version == version)
        else:
            stmt = stmt.where(Release.status == PUBLISHED)
        candidates = [r for r in s.exec(stmt) if _visible(r, privileged, as_of)]
    if not candidates:
        # An embargoed version is reported as absent, not as forbidden: its existence is news too.
        what = f"version {version}" if version is not None else "published version"
        raise ReleaseError("not_found", f"{ind.code} has no {what} visible on {as_of}")
    return max(candidates, key=lambda r: r.version)


def get_release(engine: Engine, indicator: str, version: int | None = None, *, principal: Principal,
                as_of: dt.date | None = None, policies=None, definitions=None) -> IndicatorTable:
    """A frozen release as a full table (dimensions year, month, then the indicator's; TOTAL for
    margins, and for the month of whole-year cells). Without `version`, the latest published one
    the principal may see on `as_of` (default today); embargoed versions only for publishers."""
    ind = find_indicator(indicator, _definitions(definitions))
    policies = policies or load_policies()
    release = _find_visible(engine, ind, version, principal, as_of or dt.date.today(), policies)
    n = len(ind.dimensions)
    cells, observations = {}, {}
    with engine.connect() as conn:
        rows = conn.execute(select(RELEASE_CELL.c.year, RELEASE_CELL.c.month,
                                   *[RELEASE_CELL.c[c] for c in DIMENSION_COLUMNS[:n]],
                                   RELEASE_CELL.c.value, RELEASE_CELL.c.observations)
                            .where(RELEASE_CELL.c.release_id == release.id))
        for row in rows:
            year, month = int(row[0]), int(row[1])
            key = (str(year), f"{year:04d}-{month:02d}" if month else TOTAL, *row[2:2 + n])
            value = row[-2]
            cells[key] = None if value is None else (int(value) if float(value).is_integer() else value)
            observations[key] = row[-1]
    meta = ind.meta()
    meta["release"] = _release_meta(release, as_of or dt.date.today())
    if ind.rate:
        meta["observations"] = observations
    return IndicatorTable(ind.code, ("year", "month", *ind.dimension_names), cells, ind.unit, meta=meta)


def query_release(engine: Engine, indicator: str, filters: dict | None = None, by: tuple[str, ...] = (), *,
                  principal: Principal, version: int | None = None, as_of: dt.date | None = None,
                  policies=None, definitions=None) -> IndicatorTable:
    """Like aggregate.query, on a frozen release the principal may see (see get_release)."""
    ind = find_indicator(indicator, _definitions(definitions))
    policies = policies or load_policies()
    release = _find_visible(engine, ind, version, principal, as_of or dt.date.today(), policies)
    with engine.connect() as conn:
        table = select_cells(conn, ind, RELEASE_CELL, RELEASE_CELL.c.release_id == release.id,
                             filters or {}, tuple(by))
    table.meta["release"] = _release_meta(release, as_of or dt.date.today())
    return table


def _release_meta(release: Release, as_of: dt.date) -> dict:
    return {"version": release.version, "status": release.status,
            "date": release.release_date.isoformat() if release.release_date else None,
            "note": release.note, "embargoed": release.status != PUBLISHED or release.release_date is None
            or release.release_date > as_of}
