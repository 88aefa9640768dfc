"""Forecasts of monthly flows: seasonality captured, intervals coherent, MAPE as by hand."""
from __future__ import annotations

import datetime as dt
import math
import random

import pytest

pytest.importorskip("statsmodels")

from services.forecast import MIN_MONTHS, forecast, mape, monthly_values  # noqa: E402

# A summer peak (July-August), as in border traffic when Tunisians abroad come home.
SHAPE = (0.6, 0.55, 0.7, 0.8, 0.9, 1.1, 1.8, 1.9, 1.0, 0.85, 0.65, 0.85)


def seasonal_series(years: int = 5, start: int = 2019, level: float = 20_000, growth: float = 0.04,
                    noise: float = 0.04, seed: int = 7) -> list[tuple[dt.date, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(12 * years):
        y, m = start + i // 12, i % 12 + 1
        value = level * (1 + growth) ** (i / 12) * SHAPE[m - 1] * math.exp(rng.gauss(0, noise))
        out.append((dt.date(y, m, 15), round(value)))
    return out


@pytest.fixture(scope="module")
def result():
    return forecast(seasonal_series(), horizon=12, level=0.95)


def test_points_are_the_next_twelve_months(result):
    assert [p[0] for p in result.points] == [dt.date(2024, m, 1) for m in range(1, 13)]
    assert "SARIMA" in result.model


def test_forecast_peaks_in_summer(result):
    means = {p[0].month: p[1] for p in result.points}
    assert max(means, key=means.get) in (7, 8)
    assert min(means, key=means.get) in (1, 2, 11)
    assert means[8] > 2.5 * means[2]       # the pattern's own ratio is 1.9 / 0.55 = 3.5


def test_forecast_follows_the_level(result):
    """Next year's August near this trend's August (level x growth x shape), within 10%."""
    expected = 20_000 * 1.04 ** (67 / 12) * SHAPE[7]
    august = next(p[1] for p in result.points if p[0].month == 8)
    assert abs(august - expected) / expected < 0.10


def test_intervals_contain_the_mean_and_widen(result):
    for _, mean, lo, hi in result.points:
        assert 0 <= lo < mean < hi
    # h-step uncertainty never shrinks with h (it stays flat when the fitted pattern is
    # nearly deterministic, as in this synthetic series)
    widths = [(hi - lo) / mean for _, mean, lo, hi in result.points]
    assert widths[-1] >= widths[0] * 0.999
    narrower = forecast(seasonal_series(), level=0.5)
    for (_, _, lo95, hi95), (_, _, lo50, hi50) in zip(result.points, narrower.points):
        assert lo95 < lo50 and hi50 < hi95


def test_backtest_mape_is_small_on_a_clean_pattern(result):
    assert result.backtest_mape is not None
    assert 0 < result.backtest_mape < 10       # noise of 4%: a good model is within a few percent


def test_mape_by_hand():
    # |100-110|/100 = 10%, |200-180|/200 = 10%, |50-50|/50 = 0%  -> mean 6.67%
    assert mape([100, 200, 50], [110, 180, 50]) == pytest.approx(20 / 3)
    # a zero actual has no percentage error and is left out: (25% + 50%) / 2
    assert mape([4, 0, 10], [5, 3, 5]) == pytest.approx(37.5)
    assert mape([0, 0], [1, 2]) is None
    assert mape([10, None, float("nan")], [11, 5, 5]) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        mape([1, 2], [1])


def test_backtest_is_the_mape_of_a_refit_on_all_but_the_last_year():
    from services.forecast import _fit_predict

    series = seasonal_series(years=4)
    values = [v for _, v in series]
    mean, _, _ = _fit_predict(values[:-12], 12, 0.95)
    expected = sum(abs(a - p) / a for a, p in zip(values[-12:], mean)) / 12 * 100
    assert forecast(series).backtest_mape == pytest.approx(expected)


def test_short_series():
    # 24 to 35 months: a forecast but no backtest (it would fit on less than two years)
    assert forecast(seasonal_series(years=2)).backtest_mape is None
    with pytest.raises(ValueError, match="at least 24 months"):
        forecast(seasonal_series(years=2)[:MIN_MONTHS - 1])


def test_gaps_and_order():
    series = seasonal_series(years=3)
    assert monthly_values(series[::-1]) == monthly_values(series)
    gap = [p for p in series if p[0] != dt.date(2020, 6, 15)]
    first, values = monthly_values(gap)
    assert first == dt.date(2019, 1, 1) and len(values) == 36 and math.isnan(values[17])
    f = forecast(gap)      # the state-space fit treats the missing month as missing
    assert len(f.points) == 12 and all(lo < m < hi for _, m, lo, hi in f.points)
    assert f.points[0][0] == dt.date(2022, 1, 1)
    with pytest.raises(ValueError, match="two values"):
        forecast(series + [(dt.date(2019, 1, 1), 5)])
    with pytest.raises(ValueError, match="negative"):
        forecast(series[:-1] + [(dt.date(2021, 12, 1), -1)])
