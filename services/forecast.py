"""Twelve-month forecasts of monthly flows (entries, exits, returnees), with a backtest.

Model: the "airline" seasonal ARIMA, SARIMA(0,1,1)(0,1,1)12, fitted by statsmodels'
SARIMAX to log(1 + y). Why this one:
  * migration flows are counts with a strong yearly pattern (the summer return of Tunisians
    abroad) whose amplitude grows with the level: the log makes that seasonality additive
    and keeps forecasts and interval bounds positive;
  * it has two parameters, so it can be estimated from the two-to-five years of monthly
    data an observatory typically has, where Holt-Winters needs a dozen seasonal states;
  * the state-space fit handles months with no data (gaps become missing values) and gives
    prediction intervals directly.
Intervals are computed on the log scale and transformed back, so they are asymmetric.
The point forecast is the mean of the back-transformed (log-normal) forecast distribution,
exp(mu + sigma^2 / 2) - 1, rather than the median exp(mu) - 1, so that monthly forecasts add
up to a sensible yearly total.

Backtest: the last 12 months are held out, the same model is fitted to the rest and its
12 forecasts are compared with what happened, as a mean absolute percentage error (MAPE).
It needs 12 months beyond the 24 the model itself needs; with less it is None.
"""
from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

SEASON = 12
MIN_MONTHS = 2 * SEASON      # two full years: one seasonal difference and something to fit after it
BACKTEST_MONTHS = 12
MODEL_NAME = "SARIMA(0,1,1)(0,1,1)12 on log(1+y) (airline model)"


@dataclass(frozen=True)
class Forecast:
    points: list[tuple[dt.date, float, float, float]]  # (first day of month, mean, lower, upper)
    model: str
    backtest_mape: float | None                       # percent; None without enough history
    level: float = 0.95


def mape(actual: Sequence[float], predicted: Sequence[float]) -> float | None:
    """Mean absolute percentage error, in percent, over the months whose actual value is not zero.

    A month with an actual of zero has no percentage error (division by zero) and is skipped,
    as are missing actuals (None or NaN); None if no month remains.
    """
    if len(actual) != len(predicted):
        raise ValueError("actual and predicted differ in length")
    errors = [abs(a - p) / abs(a) for a, p in zip(actual, predicted)
              if a is not None and not math.isnan(a) and a != 0]
    return float(100.0 * sum(errors) / len(errors)) if errors else None


def _month(d: dt.date) -> dt.date:
    return dt.date(d.year, d.month, 1)


def _add_months(d: dt.date, n: int) -> dt.date:
    m = d.year * 12 + d.month - 1 + n
    return dt.date(m // 12, m % 12 + 1, 1)


def monthly_values(series: Iterable[tuple[dt.date, float]]) -> tuple[dt.date, list[float]]:
    """(first month, values month by month); a month missing in between becomes NaN."""
    by_month: dict[dt.date, float] = {}
    for day, value in series:
        month = _month(day)
        if month in by_month:
            raise ValueError(f"two values for {month:%Y-%m}")
        if value is not None and value < 0:
            raise ValueError(f"{month:%Y-%m}: a flow cannot be negative ({value})")
        by_month[month] = math.nan if value is None else float(value)
    if not by_month:
        raise ValueError("empty series")
    first, last = min(by_month), max(by_month)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    return first, [by_month.get(_add_months(first, i), math.nan) for i in range(span)]


def _fit_predict(values: list[float], horizon: int, level: float):
    """(means, lowers, uppers) for `horizon` months after `values`."""
    import numpy as np
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = np.log1p(np.asarray(values, dtype=float))
    with warnings.catch_warnings():
        # Short series make the optimiser chatty (convergence, start parameters); the
        # backtest, not the warnings, is how a user judges the fit.
        warnings.simplefilter("ignore")
        model = SARIMAX(y, order=(0, 1, 1), seasonal_order=(0, 1, 1, SEASON))
        fitted = model.fit(disp=False)
        frame = fitted.get_forecast(horizon).summary_frame(alpha=1 - level)
    mu, se = frame["mean"].to_numpy(), frame["mean_se"].to_numpy()
    mean = np.expm1(mu + se ** 2 / 2)
    lower = np.maximum(np.expm1(frame["mean_ci_lower"].to_numpy()), 0.0)
    upper = np.expm1(frame["mean_ci_upper"].to_numpy())
    return mean, lower, upper


def backtest(values: list[float], horizon: int = BACKTEST_MONTHS) -> float | None:
    """MAPE of forecasts for the last `horizon` months made from the months before them."""
    if len(values) - horizon < MIN_MONTHS:
        return None
    mean, _, _ = _fit_predict(values[:-horizon], horizon, 0.95)
    return mape(values[-horizon:], [float(m) for m in mean])


def forecast(series: Sequence[tuple[dt.date, float]], horizon: int = 12, level: float = 0.95) -> Forecast:
    """Forecast a monthly series `horizon` months past its last month, with `level` intervals.

    `series` is (date, value) pairs, any day standing for its month, in any order. Needs at
    least 24 months (the model's seasonal difference needs two years).
    """
    if horizon < 1:
        raise ValueError("horizon must be at least one month")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1, e.g. 0.95")
    first, values = monthly_values(series)
    observed = sum(not math.isnan(v) for v in values)
    if len(values) < MIN_MONTHS or observed < MIN_MONTHS:
        raise ValueError(f"a seasonal forecast needs at least {MIN_MONTHS} months of data, not {observed}")
    mean, lower, upper = _fit_predict(values, horizon, level)
    after = _add_months(first, len(values))
    points = [(_add_months(after, i), float(mean[i]), float(lower[i]), float(upper[i])) for i in range(horizon)]
    return Forecast(points=points, model=MODEL_NAME, backtest_mape=backtest(values), level=level)
