"""What a reader may see of an indicator: one rule, used by the portal's dashboard and by the JSON API.

    reading = read(engine, policies, principal, "border_movements", {"year": 2024}, by=("nationality",))
    reading.table      # disclosure control applied for reading.level

* The level is the policy's answer to indicator.read on the indicator's source dataset, raised
  to microdata for a reader who may read every institution's rows of it (`read_level`).
* Readers at level `published` see the latest release published on or before `as_of` (default
  today), never the live aggregate table; the others see the live table, or a release version
  they ask for and may see (services/indicators/releases.py decides which versions are visible).
* Every level below microdata gets the table through disclosure control (services/disclosure.py)
  with the deployment's threshold (policies settings.min_cell_count). Rates are protected
  through the counts behind them. A table that cell suppression cannot protect (negative values,
  as net migration has) is refused rather than shown unprotected.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from services.config import settings
from services.disclosure import MICRODATA_LEVELS, QueryBound, check_cells, protect_for
from services.indicators.definitions import Indicator, default_indicators
from services.indicators.definitions import indicator as find_indicator
from services.indicators.table import IndicatorTable
from services.policy import Decision, Principal, Resource, decide


class ReadRefused(Exception):
    """`code` is "denied" (the policy refuses), "unprotectable" (no safe table to show), or a bound of one
    query: "too_many_dimensions", "too_many_cells", "time_budget" (services/config.py, MARSAD_QUERY_*)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Reading:
    table: IndicatorTable        # protected for `level`
    level: str                   # the read level the policy granted
    released: bool               # read from a frozen release rather than the live table


def read_decision(policies, principal: Principal, ind: Indicator) -> Decision:
    """The policy's answer to indicator.read on the indicator's source dataset; refused raises."""
    answer = decide(policies, principal, "indicator.read", Resource("indicator", dataset=ind.dataset))
    if not answer:
        raise ReadRefused("denied", answer.reason)
    return answer


def read_level(policies, principal: Principal, ind: Indicator) -> str:
    """The level the reader's tables are made for: indicator.read's (published or aggregates), raised
    to pseudonymised_microdata when the reader may read every institution's rows of the source dataset
    (microdata.read with no owner named): such a reader could count the persons themselves, so cell
    suppression would hide nothing from them (services/disclosure.py). Own-microdata readers are not
    raised: other institutions' rows are in the same cells."""
    level = read_decision(policies, principal, ind).level
    rows = decide(policies, principal, "microdata.read", Resource("microdata", dataset=ind.dataset))
    return rows.level if rows and rows.level == "pseudonymised_microdata" else level


def reads_releases_only(level) -> bool:
    """Whether the reader sees frozen releases only (a level, or the Decision that gave it)."""
    return getattr(level, "level", level) == "published"


def read(engine: Engine, policies, principal: Principal, indicator: str, filters: dict | None = None,
         by: tuple[str, ...] = (), *, version: int | None = None, as_of: dt.date | None = None,
         definitions: dict[str, Indicator] | None = None, live=None) -> Reading:
    """The table `principal` may see. Raises KeyError (unknown indicator), ReadRefused, the releases'
    ReleaseError (nothing visible) and ValueError (filters or breakdown the indicator does not have).

    `live` is the live query (default services.indicators.query, looked up when called).
    """
    from services.indicators.releases import query_release

    definitions = definitions if definitions is not None else default_indicators()
    ind = find_indicator(indicator, definitions)
    level = read_level(policies, principal, ind)
    bounds = settings()
    if len(by) > bounds.query_max_dimensions:   # before any query: the cost grows steeply with them
        raise ReadRefused("too_many_dimensions", f"at most {bounds.query_max_dimensions} dimensions in one query "
                                                 f"(MARSAD_QUERY_MAX_DIMENSIONS), not {len(by)}: {', '.join(by)}")
    released = reads_releases_only(level) or version is not None
    if released:
        table = query_release(engine, ind.code, filters, tuple(by), principal=principal, version=version,
                              as_of=as_of, policies=policies, definitions=definitions)
    else:
        if live is None:
            import services.indicators as indicators  # the module attribute, so tests may stand in for it

            live = indicators.query
        table = live(engine, ind.code, filters, tuple(by))
    # Stocks and rates: a total over periods means nothing (exports leave such cells out).
    table.meta.setdefault("periods_add_up", ind.additive_over_periods)
    try:
        check_cells(table, bounds.query_max_cells)   # before the disclosure pass, at every level
    except QueryBound as exc:
        raise ReadRefused(exc.bound, str(exc)) from exc
    return Reading(protected(table, level, policies.settings.min_cell_count, ind, seconds=bounds.query_seconds),
                   level, released)


def protected(table: IndicatorTable, level: str, threshold: int, ind: Indicator | None = None, *,
              seconds: float | None = None) -> IndicatorTable:
    """`protect_for`, extended to rates; ReadRefused("unprotectable") when cell suppression cannot apply.

    The suppression pattern depends only on the cells, the level and the threshold, and finding it
    takes linear programs (up to seconds for a table of nationalities): it is remembered per process
    for the tables most recently asked, so that readers of the same dashboard do not each pay for it.
    A table that ran out of its time budget (`seconds`) is remembered too, as refused: asking again
    does not cost another budget.
    """
    rate = bool(ind is not None and ind.rate)
    observations = table.meta.get("observations") or {}
    key = (table.indicator, table.dimensions, frozenset(table.cells.items()), level, threshold, rate,
           frozenset(observations.items()) if rate else None)
    try:
        cells, flags, disclosure = _pattern(key, table, level, threshold, rate, observations, seconds)
    except QueryBound as exc:
        raise ReadRefused(exc.bound, str(exc)) from exc
    except ValueError as exc:
        raise ReadRefused("unprotectable", f"disclosure control cannot protect this table of {table.indicator}: "
                                           f"{exc}") from exc
    meta = {k: v for k, v in table.meta.items() if not (rate and k == "observations")}  # counts behind rates
    meta["disclosure"] = dict(disclosure)
    return IndicatorTable(table.indicator, table.dimensions, dict(cells), table.unit, dict(flags), meta)


_PATTERNS: OrderedDict = OrderedDict()
# Tables remembered per process (MARSAD_DISCLOSURE_CACHE; 0 turns the memory off).
_PATTERNS_LOCK = threading.Lock()


def _pattern(key, table: IndicatorTable, level: str, threshold: int, rate: bool, observations: dict,
             seconds: float | None = None):
    """(cells, flags, disclosure meta) of the protected table, from the cache when it was made before."""
    key = (key, seconds)
    with _PATTERNS_LOCK:
        found = _PATTERNS.get(key)
        if found is not None:
            _PATTERNS.move_to_end(key)
            if isinstance(found, QueryBound):
                raise found
            return found
    bare = IndicatorTable(table.indicator, table.dimensions, dict(table.cells), table.unit)
    try:
        if rate and level in MICRODATA_LEVELS:  # the reader may count the persons: nothing to hide
            made = (bare.cells, {}, {"level": level, "applied": False})
        elif rate:
            made = _protected_rates(bare, level, threshold, observations, seconds)
        else:
            shield = protect_for(bare, level, threshold, seconds=seconds)
            made = (shield.cells, shield.flags, shield.meta["disclosure"])
    except QueryBound as exc:
        made = exc
    kept = settings().disclosure_cache
    with _PATTERNS_LOCK:
        _PATTERNS[key] = made
        while _PATTERNS and len(_PATTERNS) > kept:
            _PATTERNS.popitem(last=False)
    if isinstance(made, QueryBound):
        raise made
    return made


def _protected_rates(table: IndicatorTable, level: str, threshold: int, observations: dict,
                     seconds: float | None = None):
    """A rate is suppressed when the count behind it is: rate x population / per gives the count back."""
    counts = IndicatorTable(table.indicator, table.dimensions,
                            {key: int(observations.get(key) or 0) for key in table.cells}, "persons")
    shield = protect_for(counts, level, threshold, seconds=seconds)
    flags = {key: flag for key, flag in shield.flags.items() if key in table.cells}
    cells = {key: (None if key in flags else value) for key, value in table.cells.items()}
    return cells, flags, {**shield.meta.get("disclosure", {}), "applied_to": "observations"}


def release_periods(engine: Engine, release_id: int) -> list[tuple[int, int]]:
    """(year, month) slices a frozen release holds (month 0: the whole year), oldest first."""
    from services.indicators.releases import RELEASE_CELL

    with engine.connect() as conn:
        rows = conn.execute(select(RELEASE_CELL.c.year, RELEASE_CELL.c.month).distinct()
                            .where(RELEASE_CELL.c.release_id == release_id))
        return sorted((int(y), int(m)) for y, m in rows)


__all__ = ["ReadRefused", "Reading", "protected", "read", "read_decision", "read_level", "reads_releases_only",
           "release_periods"]
