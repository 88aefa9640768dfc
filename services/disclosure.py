"""Statistical disclosure control for published tables of counts (cell suppression).

Pure: works on `IndicatorTable`s in memory, reads no file and no setting. The caller passes the
threshold (policies/settings.yaml `min_cell_count`) and the reader's level (`decide(...).level`).

The rule, in terms an ONM analyst can check by hand:

* Margins. A table is protected together with all its sub-totals and its grand total
  (`add_margins`), because that is what gets published and what an attacker adds up.
* Primary suppression. A cell counting 0 < n < threshold persons is suppressed ("primary"),
  margins included. Zeros are published by default: "nobody" identifies nobody, and a table
  whose zeros were hidden would be mostly blank. `protect_zeros=True` treats them as sensitive
  too (for tables where even absence tells something, e.g. a small sub-population).
* Protection level p = threshold. The attacker knows every published cell, that interior cells
  add up to their margins along every dimension, that counts are whole numbers and never
  negative. From that, each suppressed cell lies in an interval [lo, hi] (computed by linear
  programming; lo rounded up and hi down to whole numbers). The table is safe when for every
  suppressed cell hi - lo >= p: a hidden 2 could be anything from 0 to at least 5 as far as the
  attacker can tell, so neither "it is exactly 2" nor "it is one of the small ones" can be
  inferred. The same width is required of secondary cells: one that could be recovered would
  protect nothing.
* Secondary suppression. First a line rule: every equation of the table (a margin and the cells
  it adds up, along one dimension) that hides something must hide at least two cells and, when
  its margin is shown, hide at least p persons in all; complements are picked cheapest first:
  interior cells before margins, a cell that covers the shortfall with the smallest count,
  preferring one that also closes another open line. The line rule is not enough (in 2-D a
  hidden cell that bridges two closed rectangles is still recovered exactly, and in 3-D more
  patterns fail), so an audit follows: for each suppressed cell, minimise and maximise it by
  linear programming (scipy's HiGHS) over the whole system of equations with published cells
  fixed; every exposed cell gets one more suppression next to it, the line rule runs again, and
  so on until the audit finds nothing. Then every secondary suppression, most costly first, is
  published again if the table stays safe without it: none is kept that is not needed.
* Levels. `published` and `aggregates` readers get the protected table; readers with microdata
  access (`own_microdata`, `pseudonymised_microdata`) could count the persons themselves, so
  they get the table unprotected (the caller decides who reads at which level).

The audit is exact over the full table: suppressed cells are split into independent components
(cells linked by shared equations) and each component is solved on its own; most cells are
certified from the solutions of earlier programs without a program of their own.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from itertools import combinations
from numbers import Integral, Real

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from services.indicators.table import TOTAL, IndicatorTable

DEFAULT_THRESHOLD = 5
PROTECTED_LEVELS = ("published", "aggregates")
MICRODATA_LEVELS = ("own_microdata", "pseudonymised_microdata")
LEVELS = PROTECTED_LEVELS + MICRODATA_LEVELS
METHOD = "cell suppression: primary 0 < n < threshold, secondary by line rule then LP audit-and-repair"

_TOL = 1e-6  # LP solutions are floats; whole-number bounds are rounded with this slack
_SWEEPS, _SWEEP_FROM = 8, 40  # random-direction programs per audit of a component this large
_MIX = 48  # at most this many points each way are mixed when a cell is published again
_STRATEGIES = ("balanced", "closing")
_MULTI_START_CELLS = 600  # tables up to this many cells (margins included) try every strategy


class QueryBound(Exception):
    """A table past a bound of one query: `bound` is "too_many_cells" or "time_budget".

    Not a ValueError: the table is not wrong, only too costly to protect here and now.
    """

    def __init__(self, bound: str, message: str):
        super().__init__(message)
        self.bound = bound


def cells_with_margins(table: IndicatorTable, limit: int) -> int:
    """How many cells the table has once its margins are added (what `protect` works on and answers),
    counted without building them; past `limit` the count stops there (limit + 1)."""
    n = len(table.dimensions)
    if len(table.cells) > limit:
        return limit + 1
    seen: set[tuple] = set()
    for key in table.cells:
        if not isinstance(key, tuple) or len(key) != n:
            continue   # add_margins says what is wrong with it
        for mask in range(1 << n):
            seen.add(tuple(TOTAL if mask >> i & 1 else code for i, code in enumerate(key)))
        if len(seen) > limit:
            return limit + 1
    return len(seen)


def check_cells(table: IndicatorTable, max_cells: int) -> None:
    """QueryBound("too_many_cells") when the table, margins included, has more than `max_cells` cells."""
    count = cells_with_margins(table, max_cells)
    if count > max_cells:
        raise QueryBound("too_many_cells", f"the table of {table.indicator} by {', '.join(table.dimensions) or 'total'} "
                                           f"has more than {max_cells} cells with its totals (MARSAD_QUERY_MAX_CELLS); "
                                           "keep fewer dimensions or filter some of them")


@dataclass(frozen=True)
class Exposure:
    """A suppressed cell the attacker can pin down: its interval is narrower than `required`."""

    key: tuple
    value: int          # the true count
    lo: float           # attacker's lower bound (whole number), after rounding up
    hi: float           # attacker's upper bound (whole number, or inf), after rounding down
    required: int       # the protection level p the interval had to span

    @property
    def exact(self) -> bool:
        return self.lo == self.hi

    def __str__(self) -> str:
        how = "recovered exactly" if self.exact else f"narrowed to [{self.lo:g}, {self.hi:g}] (< {self.required} wide)"
        return f"cell {self.key} = {self.value} {how}"


# --- margins ------------------------------------------------------------------------------------

def _count(key: tuple, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Real) or value is None:
        raise ValueError(f"cell {key}: {value!r} is not a count")
    if value < 0 or not float(value).is_integer():
        raise ValueError(f"cell {key}: {value!r} is not a non-negative whole number")
    return int(value)


def add_margins(table: IndicatorTable) -> IndicatorTable:
    """A new table with every sub-total and the grand total (TOTAL code) added.

    Made for tables of interior cells only; margins already present are checked against the sum
    of their cells (a table whose totals are not sums, e.g. unique persons across categories,
    cannot be protected by this module). Absent interior cells count as zero.
    """
    n = len(table.dimensions)
    interior: dict[tuple, int] = {}
    given: dict[tuple, int] = {}
    for key, value in table.cells.items():
        if not isinstance(key, tuple) or len(key) != n:
            raise ValueError(f"cell {key!r} does not have one code per dimension {table.dimensions}")
        (given if TOTAL in key else interior)[key] = _count(key, value)
    cells = dict(interior)
    for key, value in interior.items():
        for r in range(1, n + 1):
            for dims in combinations(range(n), r):
                margin = tuple(TOTAL if i in dims else code for i, code in enumerate(key))
                cells[margin] = cells.get(margin, 0) + value
    for key, value in given.items():
        if cells.get(key, 0) != value:
            raise ValueError(f"margin {key} = {value} but its cells add up to {cells.get(key, 0)}")
        cells.setdefault(key, value)
    return IndicatorTable(indicator=table.indicator, dimensions=tuple(table.dimensions), cells=cells,
                          unit=table.unit, flags=dict(table.flags), meta=dict(table.meta))


# --- the system of equations -------------------------------------------------------------------

class _System:
    """Cells of a table with full margins, and its additivity equations (margin = sum of cells)."""

    def __init__(self, cells: dict[tuple, int | None]):
        self.keys = list(cells)
        index = {k: i for i, k in enumerate(self.keys)}
        self.values = np.array([0 if v is None else v for v in cells.values()], dtype=float)
        self.totals = [sum(code == TOTAL for code in k) for k in self.keys]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, key in enumerate(self.keys):
            for d, code in enumerate(key):
                if code != TOTAL:
                    parent = index.get(key[:d] + (TOTAL,) + key[d + 1:])
                    if parent is not None:
                        groups.setdefault((parent, d), []).append(i)
        # Each equation: margin first, then the cells it adds up.
        self.equations = [(margin, *children) for (margin, _), children in groups.items()]
        self.cell_equations: list[list[int]] = [[] for _ in self.keys]
        for e, cells_of in enumerate(self.equations):
            for c in cells_of:
                self.cell_equations[c].append(e)
        self.strategy = "balanced"   # how close_lines weighs a complement's count against its other lines
        self.deadline: float | None = None   # time.monotonic() past which the protection gives up (QueryBound)
        self.seconds: float | None = None
        # Feasible points the programs found, as (cells that differ from the truth, their values).
        # A point stays feasible for any suppression pattern hiding all those cells, so later
        # audits (more cells hidden while repairing, one fewer while pruning) reuse it.
        self._points: list[tuple[np.ndarray, np.ndarray]] = []

    # The attacker's view ------------------------------------------------------------------------

    def components(self, hidden: set[int]) -> list[tuple[list[int], list[int]]]:
        """Suppressed cells grouped by shared equations: (cells, equations) solved independently."""
        parent = {c: c for c in hidden}

        def find(c):
            while parent[c] != c:
                parent[c] = parent[parent[c]]
                c = parent[c]
            return c

        touched = sorted({e for c in hidden for e in self.cell_equations[c]})
        for e in touched:
            inside = [c for c in self.equations[e] if c in hidden]
            root = find(inside[0])
            for c in inside[1:]:
                other = find(c)
                if other != root:
                    parent[other] = root
        cells: dict[int, list[int]] = {}
        for c in sorted(hidden):
            cells.setdefault(find(c), []).append(c)
        equations: dict[int, list[int]] = {}
        for e in touched:
            equations.setdefault(find(next(c for c in self.equations[e] if c in hidden)), []).append(e)
        return [(cells[r], equations.get(r, [])) for r in cells]

    def exposures(self, hidden: set[int], p: int, near: set[int] | None = None,
                  first_only: bool = False, released: int | None = None) -> dict[int, tuple[float, float]]:
        """Suppressed cells whose whole-number interval is narrower than p: cell -> (lo, hi).

        `near`: audit only the components that contain one of these cells (what a change touched).
        `released`: a cell just published again, whose earlier feasible points can still serve.
        """
        found: dict[int, tuple[float, float]] = {}
        for cells, equations in self.components(hidden):
            if near is not None and near.isdisjoint(cells):
                continue
            found.update(self._component_exposures(cells, equations, hidden, p, first_only, released))
            if found and first_only:
                break
        return found

    def _known_spread(self, cells, hidden, released, seen_lo, seen_hi) -> None:
        """Widen seen_lo/seen_hi (of `cells`) with the stored points still feasible for `hidden`.

        A point is feasible when every cell it moves is hidden; its part on one component is then
        feasible for that component, which shares no equation with the others. Points that moved
        a `released` cell are not, but a pair that moved it in opposite directions mixes into one
        that leaves it at its true value (the feasible set is convex).
        """
        mask = np.zeros(len(self.keys), dtype=bool)
        mask[list(hidden)] = True
        position = np.full(len(self.keys), -1)
        position[cells] = np.arange(len(cells))
        up, down = [], []          # (shift of the released cell, point on the component)
        for support, point in self._points:
            inside = mask[support]
            if not inside.all():
                outside = support[~inside]
                if released is None or len(outside) != 1 or outside[0] != released:
                    continue
            where = position[support]
            mine = where >= 0
            if inside.all():
                np.minimum.at(seen_lo, where[mine], point[mine])
                np.maximum.at(seen_hi, where[mine], point[mine])
                continue
            shift = point[~inside][0] - self.values[released]
            full = self.values[cells].copy()
            full[where[mine]] = point[mine]
            (up if shift > 0 else down).append((shift, full))
        if up and down:
            up, down = up[-_MIX:], down[-_MIX:]
            a = np.array([s for s, _ in up])[:, None]            # > 0
            b = np.array([s for s, _ in down])[None, :]          # < 0
            w = (-b / (a - b))[:, :, None]                       # weight of the up point: shifts cancel
            mixed = w * np.array([x for _, x in up])[:, None, :] + (1 - w) * np.array([x for _, x in down])[None, :, :]
            np.minimum(seen_lo, mixed.min(axis=(0, 1)), out=seen_lo)
            np.maximum(seen_hi, mixed.max(axis=(0, 1)), out=seen_hi)

    def _component_exposures(self, cells, equations, hidden, p, first_only, released=None):
        local = {c: j for j, c in enumerate(cells)}
        rows, cols, data, rhs = [], [], [], []
        for r, e in enumerate(equations):
            known = 0.0
            for position, c in enumerate(self.equations[e]):
                coef = 1.0 if position == 0 else -1.0
                if c in hidden:
                    rows.append(r)
                    cols.append(local[c])
                    data.append(coef)
                else:
                    known -= coef * self.values[c]
            rhs.append(known)
        a = csr_matrix((data, (rows, cols)), shape=(len(equations), len(cells)))
        b = np.array(rhs)
        truth = self.values[cells]
        # Feasible values seen so far (the truth is one); a cell they already spread over >= p
        # is safe whatever its exact bounds, so it needs no program of its own.
        seen_lo, seen_hi = truth.copy(), truth.copy()
        self._known_spread(cells, hidden, released, seen_lo, seen_hi)

        def spread(j):
            return math.floor(seen_hi[j] + _TOL) - math.ceil(seen_lo[j] - _TOL)

        def solve(objective):
            """Minimise objective . x; the optimum, or -inf when unbounded."""
            options = {"time_limit": self.time_left()} if self.deadline is not None else None
            result = linprog(objective, A_eq=a, b_eq=b, bounds=(0, None), method="highs", options=options)
            if result.status == 1 and self.deadline is not None:   # HiGHS stopped at the time limit
                raise self.over_budget()
            if result.status == 3:
                return -math.inf
            if result.status != 0:
                raise ValueError(f"the table's published cells are not consistent ({result.message})")
            np.minimum(seen_lo, result.x, out=seen_lo)
            np.maximum(seen_hi, result.x, out=seen_hi)
            moved = np.flatnonzero(np.abs(result.x - truth) > _TOL)
            self._points.append((np.asarray(cells)[moved], result.x[moved]))
            return result.fun

        def bound(j, sign):
            objective = np.zeros(len(cells))
            objective[j] = sign
            return sign * solve(objective)

        # In a large component, a few programs pushing many undecided cells at once (random
        # directions) certify most of them; the rest get their own min and max.
        rng = np.random.default_rng(len(cells))
        for _ in range(_SWEEPS if len(cells) > _SWEEP_FROM else 0):
            undecided = np.flatnonzero([spread(j) < p for j in range(len(cells))])
            if len(undecided) < _SWEEP_FROM:
                break
            objective = np.zeros(len(cells))
            objective[undecided] = rng.choice((-1.0, 1.0), size=len(undecided))
            solve(objective)
            solve(-objective)

        found = {}
        for j in np.argsort(truth, kind="stable"):   # small cells first: their extremes move the big ones
            if spread(j) >= p:
                continue
            hi = bound(j, -1.0)
            if hi == math.inf:
                seen_hi[j] = math.inf
                continue
            if spread(j) >= p:
                continue
            lo = bound(j, 1.0)
            lo, hi = math.ceil(lo - _TOL), math.floor(hi + _TOL)
            if hi - lo < p:
                found[cells[j]] = (float(lo), float(hi))
                if first_only:
                    break
        return found

    def time_left(self) -> float:
        """Seconds left of the budget; QueryBound("time_budget") once none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.over_budget()
        return left

    def over_budget(self) -> QueryBound:
        return QueryBound("time_budget", f"protecting this table takes longer than the {self.seconds:g} s one query "
                                         "may use (MARSAD_QUERY_SECONDS); keep fewer dimensions or filter some of them")

    # Choosing complements -----------------------------------------------------------------------

    def _hidden_in(self, e: int, hidden: set[int]) -> int:
        return sum(c in hidden for c in self.equations[e])

    def _line_complement(self, e: int, hidden: set[int], short: float) -> int | None:
        """The cheapest published cell of equation e to hide with what it already hides."""
        def cost(c):
            v = self.values[c]
            # Its other lines: one hiding nothing yet will need a complement of its own (opened),
            # one hiding a single cell is completed by it (closed): weigh the count by both.
            counts = [self._hidden_in(f, hidden) for f in self.cell_equations[c] if f != e]
            opened, closed = counts.count(0), counts.count(1)
            if v < short:                 # too small alone: the largest makes most progress
                return (1, -v, 0, c)
            if self.strategy == "closing":  # fewest new open lines first, then the smallest count
                return (0, opened - closed, v, c)
            return (0, (v + 1) * (1 + opened) / (1 + closed), 0, c)   # "balanced"; a zero counts as 1

        margin, *interior = self.equations[e]
        free = [c for c in interior if c not in hidden]
        if free:
            return min(free, key=cost)
        return margin if margin not in hidden else None

    def close_lines(self, hidden: set[int], p: int, start: set[int]) -> None:
        """Line rule: every equation hiding something hides >= 2 cells, and >= p persons if its margin shows."""
        queue = deque(sorted({e for c in start for e in self.cell_equations[c]}))
        queued = set(queue)
        while queue:
            e = queue.popleft()
            queued.discard(e)
            inside = [c for c in self.equations[e] if c in hidden]
            if not inside:
                continue
            margin_shown = self.equations[e][0] not in hidden
            short = p - sum(self.values[c] for c in inside) if margin_shown else 0
            if len(inside) >= 2 and short <= 0:
                continue
            c = self._line_complement(e, hidden, short)
            if c is None:
                continue
            hidden.add(c)
            for f in self.cell_equations[c]:
                if f not in queued:
                    queue.append(f)
                    queued.add(f)

    def _neighbour(self, j: int, hidden: set[int], need: float) -> int | None:
        """A published cell sharing an equation with exposed cell j: interior first, then cheapest."""
        free = {c for e in self.cell_equations[j] for c in self.equations[e] if c not in hidden}
        if not free:
            return None
        return min(free, key=lambda c: (self.totals[c], not (0 < self.values[c] >= need),
                                        self.values[c] if self.values[c] >= need else -self.values[c], c))

    def locally_exposed(self, cell: int, hidden: set[int], p: int) -> bool:
        """Whether publishing `cell` leaves one of its equations with a cell the line alone pins down."""
        for e in self.cell_equations[cell]:
            inside = [c for c in self.equations[e] if c in hidden]
            if len(inside) == 1:
                return True
            if inside and self.equations[e][0] not in hidden and sum(self.values[c] for c in inside) < p:
                return True
        return False

    def cost(self, c: int) -> tuple:
        return (self.totals[c], self.values[c], c)


def _suppress(system: _System, primary: set[int], p: int) -> set[int]:
    """All suppressed cells: the primary ones and the fewest complements the audit requires.

    Greedy choices can lock in a worse pattern, so small tables try both ways of weighing a
    complement and keep the better result: fewer margins hidden, then fewer cells, then fewer persons.
    """
    strategies = _STRATEGIES if len(system.keys) <= _MULTI_START_CELLS else _STRATEGIES[:1]
    results = []
    for strategy in strategies:
        system.strategy = strategy
        hidden = _suppress_once(system, primary, p)
        extra = hidden - primary
        results.append(((sum(system.totals[c] > 0 for c in extra), len(extra), sum(system.values[c] for c in extra)),
                        hidden))
    return min(results, key=lambda r: r[0])[1]


def _suppress_once(system: _System, primary: set[int], p: int) -> set[int]:
    hidden = set(primary)
    if not hidden:
        return hidden
    system.close_lines(hidden, p, hidden)
    # Each round hides at least one more cell, so this ends, at worst with everything hidden.
    for _ in range(len(system.keys) + 1):
        if system.deadline is not None:
            system.time_left()
        exposed = system.exposures(hidden, p)
        if not exposed:
            break
        added: set[int] = set()
        for j, (lo, hi) in sorted(exposed.items()):
            # One fresh suppression next to an exposed cell often frees its neighbours too.
            if any(c in added for e in system.cell_equations[j] for c in system.equations[e]):
                continue
            c = system._neighbour(j, hidden, p - (hi - lo))
            if c is not None:
                hidden.add(c)
                added.add(c)
        if not added:   # everything next to the exposed cells is hidden: widen from anywhere around
            free = {c for h in hidden for e in system.cell_equations[h] for c in system.equations[e]} - hidden
            if not free:
                hidden.update(range(len(system.keys)))
                break
            c = min(free, key=system.cost)
            hidden.add(c)
            added.add(c)
        system.close_lines(hidden, p, added)
    # Publish again every complement the table does not need, most costly first.
    for c in sorted(hidden - primary, key=system.cost, reverse=True):
        if system.deadline is not None:
            system.time_left()
        hidden.discard(c)
        near = {n for e in system.cell_equations[c] for n in system.equations[e]} & hidden
        if system.locally_exposed(c, hidden, p) or system.exposures(hidden, p, near=near, first_only=True, released=c):
            hidden.add(c)
    return hidden


# --- the API ------------------------------------------------------------------------------------

def _check_level(level) -> str:
    if getattr(level, "allowed", True) is False:   # a denied policy Decision: the reader sees nothing
        raise PermissionError(getattr(level, "reason", "indicator read denied"))
    level = getattr(level, "level", level)          # an allowed Decision works as well as its level
    if level not in LEVELS:
        raise ValueError(f"unknown read level {level!r}; expected one of: {', '.join(LEVELS)}")
    return level


def protect(table: IndicatorTable, *, threshold: int = DEFAULT_THRESHOLD, protect_zeros: bool = False,
            level: str = "aggregates", max_cells: int | None = None, seconds: float | None = None) -> IndicatorTable:
    """A new table, margins included, with suppressed cells set to None and flagged.

    flags[key] is "primary" (a small count) or "secondary" (hidden so a primary cannot be worked
    out); meta["disclosure"] says what was applied. Microdata levels get the table unprotected.
    Cells absent from the table are taken as known zeros (published by their absence): to have
    zeros protected with `protect_zeros`, give them as cells.

    Bounds of one query (QueryBound past them): `max_cells`, checked before any work, and `seconds`,
    a budget for the linear programs (each gets what is left as HiGHS's time limit).
    """
    level = _check_level(level)
    if max_cells is not None:
        check_cells(table, max_cells)
    if isinstance(threshold, bool) or not isinstance(threshold, Integral) or threshold < 1:
        raise ValueError(f"threshold must be a whole number >= 1, not {threshold!r}")
    if any(v is None for v in table.cells.values()):
        raise ValueError("the table already has suppressed cells; protect the original counts")
    full = add_margins(table)
    meta = dict(table.meta)
    if level in MICRODATA_LEVELS:
        meta["disclosure"] = {"level": level, "applied": False}
        return IndicatorTable(full.indicator, full.dimensions, dict(full.cells), full.unit, {}, meta)
    p = int(threshold)
    system = _System(full.cells)
    if seconds is not None:
        system.seconds, system.deadline = seconds, time.monotonic() + seconds
    values = system.values
    primary = {i for i, v in enumerate(values) if 0 < v < p or (protect_zeros and v == 0)}
    hidden = _suppress(system, primary, p)
    cells = {key: (None if i in hidden else full.cells[key]) for i, key in enumerate(system.keys)}
    flags = {system.keys[i]: ("primary" if i in primary else "secondary") for i in sorted(hidden)}
    meta["disclosure"] = {
        "level": level, "applied": True, "method": METHOD, "threshold": p, "protection_level": p,
        "protect_zeros": protect_zeros, "primary": len(primary), "secondary": len(hidden - primary),
    }
    return IndicatorTable(full.indicator, full.dimensions, cells, full.unit, flags, meta)


def protect_for(table: IndicatorTable, level, threshold: int = DEFAULT_THRESHOLD, *, max_cells: int | None = None,
                seconds: float | None = None) -> IndicatorTable:
    """`protect` for a reader: `level` is a read level or the Decision that gave it
    (`decide(...)`), `threshold` the deployment's `policies.settings.min_cell_count`; the bounds of
    one query as in `protect`."""
    return protect(table, threshold=threshold, level=_check_level(level), max_cells=max_cells, seconds=seconds)


def audit(table_published: IndicatorTable, original: IndicatorTable, *, protection: int | None = None) -> list[Exposure]:
    """The attacker's view: every suppressed cell whose interval is narrower than the protection level.

    A cell is suppressed when published as None or left out of the published table. The
    protection level is `protection`, else the one `protect` recorded in meta, else the default.
    """
    full = add_margins(original)
    for key, value in table_published.cells.items():
        if key not in full.cells:
            raise ValueError(f"published cell {key} is not in the original table")
        if value is not None and _count(key, value) != full.cells[key]:
            raise ValueError(f"published cell {key} = {value} differs from the original {full.cells[key]}")
    p = protection or table_published.meta.get("disclosure", {}).get("protection_level") or DEFAULT_THRESHOLD
    system = _System(full.cells)
    hidden = {i for i, key in enumerate(system.keys) if table_published.cells.get(key) is None}
    found = system.exposures(hidden, int(p))
    return [Exposure(system.keys[i], int(system.values[i]), lo, hi, int(p)) for i, (lo, hi) in sorted(found.items())]
