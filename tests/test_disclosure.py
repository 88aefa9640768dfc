"""Disclosure control (services/disclosure.py): margins, primary and secondary suppression, audit.

The tests attack the published tables with their own attacker (`attack` below): it rebuilds the
additivity equations from the published table alone and bounds each hidden cell by linear
programming, written apart from the module's audit so that a bug there is not a bug here too.
"""
from __future__ import annotations

import copy
import itertools
import math
import random
import time

import numpy as np
import pytest
from scipy.optimize import linprog

from services.disclosure import (
    Exposure, add_margins, audit, protect, protect_for,
)
from services.indicators.table import TOTAL, IndicatorTable
from services.policy import Principal, Resource, decide, load_policies

P = 5  # the threshold used throughout, and the protection level the module documents (p = threshold)


# --- the attacker ------------------------------------------------------------------------------

def attack(published: IndicatorTable) -> dict[tuple, tuple[float, float]]:
    """Each hidden cell's whole-number interval [lo, hi] given everything published.

    Knowledge: every published cell; every margin equals the sum of the cells one level below it
    along each dimension it totals; counts are whole numbers >= 0.
    """
    keys = list(published.cells)
    hidden = [k for k in keys if published.cells[k] is None]
    if not hidden:
        return {}
    var = {k: i for i, k in enumerate(hidden)}
    categories = [sorted({k[d] for k in keys if k[d] != TOTAL}) for d in range(len(published.dimensions))]
    rows, rhs = [], []
    for key in keys:
        for d, code in enumerate(key):
            if code != TOTAL:
                continue
            parts = [key[:d] + (c,) + key[d + 1:] for c in categories[d]]
            parts = [q for q in parts if q in published.cells]
            row, known = np.zeros(len(hidden)), 0.0
            for q, sign in [(key, 1.0)] + [(q, -1.0) for q in parts]:
                if q in var:
                    row[var[q]] += sign
                else:
                    known -= sign * published.cells[q]
            if row.any():
                rows.append(row)
                rhs.append(known)
    a = np.array(rows) if rows else np.zeros((0, len(hidden)))
    b = np.array(rhs)
    out = {}
    for key, i in var.items():
        c = np.zeros(len(hidden))
        c[i] = 1.0
        low = linprog(c, A_eq=a if rows else None, b_eq=b if rows else None, bounds=(0, None), method="highs")
        high = linprog(-c, A_eq=a if rows else None, b_eq=b if rows else None, bounds=(0, None), method="highs")
        assert low.status == 0, low.message
        lo = math.ceil(low.fun - 1e-6)
        hi = math.inf if high.status == 3 else math.floor(-high.fun + 1e-6)
        out[key] = (lo, hi)
    return out


def exposed(published: IndicatorTable, p: int = P) -> dict[tuple, tuple[float, float]]:
    return {k: iv for k, iv in attack(published).items() if iv[1] - iv[0] < p}


def assert_safe(published: IndicatorTable, original: IndicatorTable, p: int = P):
    full = add_margins(original)
    intervals = attack(published)
    for key, (lo, hi) in intervals.items():
        assert lo <= full.cells[key] <= hi, (key, lo, hi, full.cells[key])   # the truth is always possible
        assert lo != hi, f"{key} recovered exactly: {lo}"
        assert hi - lo >= p, f"{key} = {full.cells[key]} narrowed to [{lo}, {hi}]"


# --- tables ------------------------------------------------------------------------------------

def make_table(shape, seed, small=0.2, zeros=0.05, big=(5, 120)) -> IndicatorTable:
    rng = random.Random(seed)
    dims = ("governorate", "sex", "age")[: len(shape)] if len(shape) <= 3 else tuple(f"d{i}" for i in range(len(shape)))
    cells = {}
    for key in itertools.product(*[[f"{d[:3]}{i}" for i in range(n)] for d, n in zip(dims, shape)]):
        r = rng.random()
        cells[key] = rng.randint(1, P - 1) if r < small else 0 if r < small + zeros else rng.randint(*big)
    return IndicatorTable(indicator="test", dimensions=dims, cells=cells)


def table(dimensions, cells) -> IndicatorTable:
    return IndicatorTable(indicator="test", dimensions=tuple(dimensions), cells=dict(cells))


def grid(rows: list[list[int]]) -> IndicatorTable:
    """A 2-D table from a list of rows: keys (r0.., c0..)."""
    return table(("row", "col"), {(f"r{i}", f"c{j}"): v for i, r in enumerate(rows) for j, v in enumerate(r)})


# --- margins -----------------------------------------------------------------------------------

def test_add_margins_sums_every_dimension_and_the_grand_total():
    t = grid([[3, 10, 20], [2, 15, 30]])
    full = add_margins(t)
    assert full.cells[("r0", TOTAL)] == 33
    assert full.cells[("r1", TOTAL)] == 47
    assert full.cells[(TOTAL, "c0")] == 5
    assert full.cells[(TOTAL, "c2")] == 50
    assert full.cells[(TOTAL, TOTAL)] == 80
    assert len(full.cells) == 3 * 4


def test_add_margins_3d_agrees_with_brute_force_sums():
    t = make_table((4, 3, 5), seed=7)
    full = add_margins(t)
    assert len(full.cells) == 5 * 4 * 6
    for key, value in full.cells.items():
        expected = sum(v for k, v in t.cells.items() if all(m == TOTAL or m == c for m, c in zip(key, k)))
        assert value == expected, key
        assert value >= 0
    assert full.cells[(TOTAL, TOTAL, TOTAL)] == sum(t.cells.values())


def test_add_margins_1d_and_absent_cells_count_as_zero():
    assert add_margins(table(("sex",), {("F",): 4, ("M",): 9})).cells == {("F",): 4, ("M",): 9, (TOTAL,): 13}
    sparse = add_margins(table(("a", "b"), {("x", "u"): 3, ("y", "v"): 6}))
    assert sparse.cells[("x", TOTAL)] == 3 and sparse.cells[(TOTAL, "v")] == 6 and ("x", "v") not in sparse.cells


def test_add_margins_checks_given_margins_and_counts():
    ok = table(("sex",), {("F",): 4, ("M",): 9, (TOTAL,): 13})
    assert add_margins(ok).cells[(TOTAL,)] == 13
    with pytest.raises(ValueError, match="add up to 13"):
        add_margins(table(("sex",), {("F",): 4, ("M",): 9, (TOTAL,): 12}))
    for bad in (-1, 2.5, None, "3", True):
        with pytest.raises(ValueError):
            add_margins(table(("sex",), {("F",): bad}))
    with pytest.raises(ValueError, match="one code per dimension"):
        add_margins(table(("a", "b"), {("x",): 1}))


def test_add_margins_and_protect_do_not_mutate_the_input():
    t = make_table((5, 3), seed=3)
    t.meta["names"] = {"en": "test"}
    before = copy.deepcopy(t)
    add_margins(t)
    out = protect(t)
    assert t == before
    assert out is not t and out.cells is not t.cells and out.meta is not t.meta


# --- primary suppression -------------------------------------------------------------------------

@pytest.mark.parametrize("shape,seed", [((8,), 1), ((6, 4), 2), ((4, 3, 5), 3), ((10, 2), 4)])
def test_every_small_cell_is_suppressed_and_flags_match(shape, seed):
    t = make_table(shape, seed)
    full = add_margins(t)
    out = protect(t, threshold=P)
    assert set(out.cells) == set(full.cells)
    for key, value in full.cells.items():
        if 0 < value < P:
            assert out.cells[key] is None and out.flags[key] == "primary", key
        elif out.cells[key] is not None:
            assert out.cells[key] == value and key not in out.flags
        else:
            assert out.flags[key] == "secondary" and (value >= P or value == 0), key
    assert set(out.flags) == {k for k, v in out.cells.items() if v is None}
    assert set(out.flags.values()) <= {"primary", "secondary"}
    info = out.meta["disclosure"]
    assert info["primary"] == sum(f == "primary" for f in out.flags.values())
    assert info["secondary"] == sum(f == "secondary" for f in out.flags.values())
    assert info["protection_level"] == P and info["applied"] is True


def test_a_table_without_small_cells_is_published_whole():
    t = make_table((6, 3, 4), seed=11, small=0.0, zeros=0.15)
    out = protect(t)
    assert out.flags == {}
    assert out.cells == add_margins(t).cells
    assert any(v == 0 for v in t.cells.values())   # zeros are not sensitive by default


def test_sparse_tables_absent_cells_are_known_zeros():
    # (y, u) is absent: nobody, and the attacker knows it; column u's total is then row x's 3.
    t = table(("a", "b"), {("x", "u"): 3, ("x", "v"): 40, ("y", "v"): 60})
    out = protect(t)
    assert ("y", "u") not in out.cells
    assert out.flags[("x", "u")] == "primary" and out.flags[(TOTAL, "u")] == "primary"
    assert_safe(out, t)


def test_zeros_are_protected_when_asked():
    t = grid([[0, 40, 50], [30, 20, 60], [25, 35, 45]])
    assert protect(t).flags == {}
    out = protect(t, protect_zeros=True)
    assert out.flags[("r0", "c0")] == "primary"
    assert sum(f == "secondary" for f in out.flags.values()) >= 3   # a rectangle at least
    assert_safe(out, t)


def test_a_higher_threshold_protects_more():
    t = grid([[6, 40, 50], [30, 7, 60], [25, 35, 45]])
    assert protect(t, threshold=5).flags == {}
    out = protect(t, threshold=10)
    assert out.flags[("r0", "c0")] == "primary" and out.flags[("r1", "c1")] == "primary"
    assert_safe(out, t, p=10)


# --- secondary suppression: 1-D ----------------------------------------------------------------------

def test_a_single_small_cell_in_a_vector_needs_a_second_suppression():
    t = table(("nationality",), {("CIV",): 3, ("GIN",): 40, ("MLI",): 25, ("SDN",): 60})
    out = protect(t)
    assert out.flags[("CIV",)] == "primary"
    assert list(out.flags.values()).count("secondary") == 1
    assert out.flags.get(("MLI",)) == "secondary"          # the smallest that covers the protection level
    assert out.cells[(TOTAL,)] == 128                      # the total stays published
    assert_safe(out, t)


def test_two_small_cells_that_together_stay_under_the_level_need_a_third():
    t = table(("sex",), {("F",): 1, ("M",): 3, ("X",): 50})
    out = protect(t)
    assert {k for k, f in out.flags.items() if f == "primary"} == {("F",), ("M",)}
    assert len(out.flags) == 3
    assert_safe(out, t)


def test_a_small_grand_total_hides_everything_it_would_reveal():
    t = table(("sex",), {("F",): 1, ("M",): 2})
    out = protect(t)
    assert out.flags == {("F",): "primary", ("M",): "primary", (TOTAL,): "primary"}
    assert_safe(out, t)


# --- the attack on random tables -----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(25))
def test_attack_1d(seed):
    rng = random.Random(seed)
    t = make_table((rng.randint(2, 9),), seed, small=rng.choice([0.1, 0.3, 0.5]))
    out = protect(t)
    assert_safe(out, t)
    assert audit(out, t) == []


@pytest.mark.parametrize("seed", range(30))
def test_attack_2d(seed):
    rng = random.Random(100 + seed)
    t = make_table((rng.randint(2, 7), rng.randint(2, 5)), 100 + seed, small=rng.choice([0.1, 0.25, 0.4]),
                   zeros=rng.choice([0.0, 0.1]))
    out = protect(t, protect_zeros=seed % 5 == 0)
    assert_safe(out, t)
    assert audit(out, t) == []


@pytest.mark.parametrize("seed", range(12))
def test_attack_3d(seed):
    rng = random.Random(200 + seed)
    shape = (rng.randint(2, 5), rng.randint(2, 3), rng.randint(2, 5))
    t = make_table(shape, 200 + seed, small=rng.choice([0.1, 0.2, 0.35]))
    out = protect(t)
    assert_safe(out, t)
    assert audit(out, t) == []


def test_attack_4d():
    t = make_table((3, 2, 3, 2), 300, small=0.25)
    out = protect(t)
    assert_safe(out, t)


# --- patterns a line-by-line method gets wrong -----------------------------------------------------

def naive_row_only(t: IndicatorTable) -> IndicatorTable:
    """What a row-by-row rule publishes: in each row, hide the small cells and, if only one, the row's
    next smallest; columns and the grand total are not looked at."""
    full = add_margins(t)
    cells = dict(full.cells)
    for r in {k[0] for k in t.cells}:
        row = {k: v for k, v in t.cells.items() if k[0] == r}
        small = [k for k, v in row.items() if 0 < v < P]
        if small:
            hide = set(small)
            if len(hide) == 1:
                hide.add(min((k for k in row if k not in hide), key=lambda k: row[k]))
            for k in hide:
                cells[k] = None
    return IndicatorTable(t.indicator, t.dimensions, cells)


def test_row_only_suppression_is_broken_by_the_columns_but_protect_holds():
    t = grid([[3, 12, 30, 40],
              [25, 30, 2, 11],
              [40, 50, 60, 70]])
    naive = naive_row_only(t)
    # Row 0 hides (c0, c1), row 1 hides (c2, c3): each column then hides one cell and its total shows.
    assert exposed(naive)[("r0", "c0")] == (3, 3)
    assert {e.key for e in audit(naive, t)} >= {("r0", "c0"), ("r1", "c2")}
    out = protect(t)
    assert_safe(out, t)


def test_a_hidden_cell_bridging_two_closed_rectangles_is_recovered_unless_repaired():
    # The small cells form two rectangles (r0,r1 x c0,c1) and (r2,r3 x c2,c3) and a bridge (r0, c2):
    # every row and column hides two or more cells and at least p persons, so a line rule is
    # satisfied, yet the bridge lies on no cycle of hidden cells and the totals give it away.
    rows = [[3, 4, 2, 40, 50],
            [4, 3, 60, 45, 55],
            [35, 50, 3, 4, 65],
            [45, 40, 4, 3, 70],
            [55, 60, 50, 65, 80]]
    t = grid(rows)
    full = add_margins(t)
    primaries_only = IndicatorTable(t.indicator, t.dimensions,
                                    {k: (None if 0 < v < P else v) for k, v in full.cells.items()})
    assert exposed(primaries_only)[("r0", "c2")] == (2, 2)
    exposures = audit(primaries_only, t)
    assert [e.key for e in exposures if e.exact] == [("r0", "c2")]
    assert isinstance(exposures[0], Exposure) and "recovered exactly" in str([e for e in exposures if e.exact][0])
    out = protect(t)
    assert out.flags[("r0", "c2")] == "primary"
    assert any(f == "secondary" for f in out.flags.values())
    assert_safe(out, t)
    assert audit(out, t) == []


def test_a_3d_table_where_every_2d_face_looks_closed():
    # Small cells on a 2x2x2 cube with alternating ones and twos: each line hides two cells, but the
    # cube's single cycle lets only one person move, too little; protect must widen it.
    cells = {}
    for a, b, c in itertools.product(range(3), range(3), range(3)):
        cells[(f"g{a}", f"s{b}", f"a{c}")] = ((1 + (a + b + c) % 2) if max(a, b, c) < 2 else 30 + a + 2 * b + 3 * c)
    t = table(("governorate", "sex", "age"), cells)
    full = add_margins(t)
    primaries_only = IndicatorTable(t.indicator, t.dimensions,
                                    {k: (None if 0 < v < P else v) for k, v in full.cells.items()})
    assert exposed(primaries_only)
    out = protect(t)
    assert_safe(out, t)


# --- minimality ------------------------------------------------------------------------------------

def without(out: IndicatorTable, original: IndicatorTable, key) -> IndicatorTable:
    cells = dict(out.cells)
    cells[key] = add_margins(original).cells[key]
    return IndicatorTable(out.indicator, out.dimensions, cells)


@pytest.mark.parametrize("shape,seed", [((4, 3), s) for s in range(8)] + [((5, 4), s) for s in range(8, 14)]
                         + [((3, 2, 3), s) for s in range(14, 18)])
def test_every_secondary_suppression_is_needed(shape, seed):
    t = make_table(shape, 400 + seed, small=0.25)
    out = protect(t)
    secondary = [k for k, f in out.flags.items() if f == "secondary"]
    for key in secondary:
        assert exposed(without(out, t, key)), f"{key} could be published again"


def fewest_secondaries(t: IndicatorTable) -> tuple[int, int]:
    """Brute force over every set of complements: the best safe one as (margins hidden, interior hidden),
    margins first because the module prefers hiding interior cells to hiding totals."""
    full = add_margins(t)
    primary = {k for k, v in full.cells.items() if 0 < v < P}
    inner = sorted(k for k in full.cells if k not in primary and TOTAL not in k)
    outer = sorted(k for k in full.cells if k not in primary and TOTAL in k)
    for m in range(len(outer) + 1):
        for n in range(len(inner) + 1):
            for extra in itertools.product(itertools.combinations(outer, m), itertools.combinations(inner, n)):
                hide = primary | set(extra[0]) | set(extra[1])
                candidate = IndicatorTable(t.indicator, t.dimensions,
                                           {k: (None if k in hide else v) for k, v in full.cells.items()})
                if not exposed(candidate):
                    return m, n
    raise AssertionError("unreachable: hiding everything is safe")


def secondaries(out: IndicatorTable) -> tuple[int, int]:
    hidden = [k for k, f in out.flags.items() if f == "secondary"]
    return sum(TOTAL in k for k in hidden), sum(TOTAL not in k for k in hidden)


@pytest.mark.parametrize("rows", [
    [[3, 20, 30], [25, 40, 35]],
    [[2, 20, 30], [25, 3, 35]],
    [[1, 6, 30], [8, 40, 35]],
    [[4, 1, 30], [25, 40, 35]],
    [[20, 30, 40], [35, 4, 12]],
    [[61, 0, 18], [2, 80, 80]],
    [[4, 79, 2], [51, 72, 3], [11, 10, 68]],
])
def test_as_few_complements_as_the_brute_force_optimum_on_small_tables(rows):
    t = grid(rows)
    out = protect(t)
    assert secondaries(out) == fewest_secondaries(t)
    assert_safe(out, t)


@pytest.mark.parametrize("shape,seed", [((2, 3), s) for s in range(10)] + [((3, 3), s) for s in range(3)])
def test_random_small_tables_stay_close_to_the_optimum(shape, seed):
    # A greedy method is not always optimal (on random 2x3 and 3x3 tables it matched the brute force
    # about 9 times in 10 when written); it must never be far off.
    t = make_table(shape, 1000 + seed, small=0.3)
    out = protect(t)
    best = fewest_secondaries(t)
    assert sum(secondaries(out)) <= sum(best) + 2
    assert secondaries(out)[0] <= best[0] + 1


# --- levels ----------------------------------------------------------------------------------------

def test_microdata_levels_get_the_table_unprotected_and_unknown_levels_fail():
    t = grid([[3, 20], [25, 40]])
    for level in ("own_microdata", "pseudonymised_microdata"):
        out = protect(t, level=level)
        assert out.flags == {} and out.cells == add_margins(t).cells
        assert out.meta["disclosure"] == {"level": level, "applied": False}
    for level in ("published", "aggregates"):
        assert protect(t, level=level).flags[("r0", "c0")] == "primary"
    with pytest.raises(ValueError, match="unknown read level"):
        protect(t, level="everything")
    with pytest.raises(ValueError, match="threshold"):
        protect(t, threshold=0)
    with pytest.raises(ValueError, match="already has suppressed"):
        protect(protect(t))


def test_protect_for_takes_the_reader_level_or_decision_and_the_deployment_threshold():
    policies = load_policies()
    threshold = policies.settings.min_cell_count
    t = grid([[3, 20, 31], [25, 40, 33]])
    reader = Principal(username="ins.analyst", institution="INS", roles=frozenset({"analyst"}))
    decision = decide(policies, reader, "indicator.read", Resource(kind="indicator", dataset="border_crossings"))
    assert decision.level == "aggregates"
    out = protect_for(t, decision, threshold)
    assert out.flags[("r0", "c0")] == "primary" and out.meta["disclosure"]["threshold"] == threshold
    assert protect_for(t, "own_microdata", threshold).flags == {}
    denied = decide(policies, reader, "microdata.read", Resource(kind="microdata", institution="UNHCR",
                                                                 dataset="asylum_refugees"))
    assert not denied
    with pytest.raises(PermissionError):
        protect_for(t, denied, threshold)


# --- audit -----------------------------------------------------------------------------------------

def test_audit_reports_cells_recovered_or_narrowed():
    t = table(("sex",), {("F",): 3, ("M",): 1, ("X",): 40})
    full = add_margins(t)
    single = dict(full.cells) | {("F",): None}
    [e] = audit(IndicatorTable("t", t.dimensions, single), t)
    assert (e.key, e.value, e.lo, e.hi, e.exact) == (("F",), 3, 3, 3, True)
    narrow = dict(full.cells) | {("F",): None, ("M",): None}
    found = audit(IndicatorTable("t", t.dimensions, narrow), t)
    assert {(e.key, e.lo, e.hi, e.exact) for e in found} == {(("F",), 0, 4, False), (("M",), 0, 4, False)}
    assert audit(IndicatorTable("t", t.dimensions, narrow), t, protection=4) == []
    with pytest.raises(ValueError, match="differs"):
        audit(IndicatorTable("t", t.dimensions, dict(full.cells) | {("F",): 2}), t)


@pytest.mark.parametrize("shape,seed", [((12,), 0), ((5, 4), 2), ((6, 3), 3), ((3, 3, 4), 4), ((4, 2, 5), 5)])
def test_the_module_audit_agrees_with_the_attacker_on_arbitrary_patterns(shape, seed):
    # Random suppression patterns, most of them unsafe: the module's audit (which skips programs it
    # can prove unnecessary) must name exactly the cells the attacker pins down, with the same bounds.
    rng = random.Random(seed)
    t = make_table(shape, 500 + seed, small=0.2)
    full = add_margins(t)
    found = 0
    for share in (0.1, 0.25, 0.5, 0.8):
        hide = {k for k in full.cells if rng.random() < share}
        published = IndicatorTable(t.indicator, t.dimensions, {k: (None if k in hide else v) for k, v in full.cells.items()})
        mine = {e.key: (e.lo, e.hi) for e in audit(published, t, protection=P)}
        assert mine == exposed(published)
        found += len(mine)
    assert found   # the patterns did expose something to compare


# --- a real-looking table ----------------------------------------------------------------------------

def test_interceptions_by_nationality_and_sex():
    # Persons intercepted at sea by nationality and sex in a year: a few nationalities have 1-4 persons.
    counts = {
        "TUN": (1840, 212), "CIV": (960, 415), "GIN": (702, 188), "SDN": (455, 31), "MLI": (388, 57),
        "CMR": (240, 96), "BFA": (133, 22), "SEN": (97, 9), "NGA": (64, 38), "SLE": (41, 12),
        "GMB": (29, 2), "ERI": (18, 3), "TCD": (11, 0), "MAR": (4, 1), "SYR": (2, 3), "BGD": (3, 0),
    }
    cells = {}
    for nationality, (male, female) in counts.items():
        cells[(nationality, "M")] = male
        cells[(nationality, "F")] = female
    t = IndicatorTable("interceptions_sea", ("nationality", "sex"), cells, meta={"source": "MI-GN"})
    out = protect_for(t, "published", 5)
    primary = {k for k, f in out.flags.items() if f == "primary"}
    assert primary == {("GMB", "F"), ("ERI", "F"), ("MAR", "M"), ("MAR", "F"), ("SYR", "M"), ("SYR", "F"),
                       ("BGD", "M"), ("BGD", TOTAL)}   # SYR and MAR add up to 5: their totals are not small
    assert out.cells[(TOTAL, TOTAL)] == sum(m + f for m, f in counts.values())   # the grand total shows
    assert out.cells[("TUN", "M")] == 1840 and out.cells[("TCD", "F")] == 0
    assert all(out.cells[(n, TOTAL)] is not None for n in ("TUN", "CIV", "GIN", "SDN"))
    assert out.cells[(TOTAL, "M")] is not None and out.cells[(TOTAL, "F")] is not None   # sex totals show
    assert out.meta["source"] == "MI-GN"
    assert_safe(out, t)
    assert audit(out, t) == []
    # Exports read it row by row with the flag.
    assert ("MAR", "F", None, "primary") in out.rows()


# --- size and time -------------------------------------------------------------------------------------

def test_governorate_by_sex_by_age_group_in_a_few_seconds():
    t = make_table((24, 3, 18), seed=2024, small=0.2)
    start = time.perf_counter()
    out = protect(t)
    elapsed = time.perf_counter() - start
    print(f"\n24x3x18 (+margins: {len(out.cells)} cells): {out.meta['disclosure']['primary']} primary, "
          f"{out.meta['disclosure']['secondary']} secondary, protect {elapsed:.2f}s")
    assert len(out.cells) == 25 * 4 * 19
    assert elapsed < 20
    assert audit(out, t) == []
