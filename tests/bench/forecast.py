"""Forecast benchmark: backtest MAPE of the monthly forecasts on synthetic partner data.

    python -m tests.bench.forecast                    # 2021-2024, about 60,000 crossings a year
    python -m tests.bench.forecast --years 2019-2024 --rows 200000

Border crossings and returnees are generated year by year with `services.synth` (its
seasonality: the summer wave at the borders, flat returns), growing a few percent a year,
then counted by month and direction, as the indicators engine would. Each series is
forecast twelve months ahead; the backtest holds out its last twelve months.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections import Counter

# Tiny matrices: OpenBLAS threads only contend with each other (several times slower on a busy machine).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from services.catalog import default_catalog  # noqa: E402
from services.forecast import forecast  # noqa: E402
from services.synth import generate_rows  # noqa: E402


def monthly_counts(dataset: str, date_field: str, years: range, rows: int, growth: float,
                   split: str | None = None) -> dict[str, Counter]:
    """{series name: Counter(month -> rows)}; `split` names a code field to count apart."""
    catalog = default_catalog()
    ds = catalog.dataset(dataset)
    out: dict[str, Counter] = {}
    for k, year in enumerate(years):
        n = int(rows * (1 + growth) ** k)
        for row in generate_rows(ds, catalog, rows=n, year=year, seed=year, messiness=0.0):
            d = dt.date.fromisoformat(row[date_field])
            name = row[split] if split else dataset
            out.setdefault(name, Counter())[dt.date(d.year, d.month, 1)] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", default="2021-2024", help="first-last year, at least three years")
    parser.add_argument("--rows", type=int, default=60_000, help="border crossings in the first year")
    parser.add_argument("--returnees", type=int, default=6_000, help="returns in the first year")
    parser.add_argument("--growth", type=float, default=0.05, help="yearly growth of the flows")
    args = parser.parse_args(argv)
    first, last = (int(y) for y in args.years.split("-"))
    years = range(first, last + 1)
    if len(years) < 3:
        parser.error("the backtest needs three years: two to fit, one to hold out")

    started = time.perf_counter()
    series = {}
    crossings = monthly_counts("border_crossings", "event_date", years, args.rows, args.growth, split="direction")
    series["entries"], series["exits"] = crossings.get("ENTRY", Counter()), crossings.get("EXIT", Counter())
    series["returnees"] = monthly_counts("returnees", "return_date", years, args.returnees, args.growth)["returnees"]
    print(f"generated {len(years)} years of synthetic data in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    print(f"{'series':<10} {'months':>6} {'mean/month':>11} {'backtest MAPE':>14} {'next Aug (95% interval)':>34}"
          f" {'fit s':>6}")
    for name, counts in series.items():
        points = sorted(counts.items())
        t = time.perf_counter()
        result = forecast(points)
        elapsed = time.perf_counter() - t
        august = next(p for p in result.points if p[0].month == 8)
        mean = sum(v for _, v in points) / len(points)
        mape = f"{result.backtest_mape:.1f}%" if result.backtest_mape is not None else "n/a"
        interval = f"{august[1]:,.0f} ({august[2]:,.0f} - {august[3]:,.0f})"
        print(f"{name:<10} {len(points):>6} {mean:>11,.0f} {mape:>14} {interval:>34} {elapsed:>6.1f}")
    print(f"model: {result.model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
