"""Indicators: definitions as data (services/catalog/indicators/*.yaml), computed from accepted
submissions into an aggregate table, queried as IndicatorTables, frozen into releases.

    from services.indicators import refresh, on_accepted, query, create_release, get_release
"""
from services.indicators.aggregate import RefreshReport, available_periods, on_accepted, query, refresh
from services.indicators.definitions import (Indicator, IndicatorError, default_indicators, load_indicators,
                                             population_table)
from services.indicators.releases import (ReleaseError, approve_release, create_release, get_release,
                                          list_releases, publish, query_release)
from services.indicators.table import TOTAL, IndicatorTable

__all__ = [
    "TOTAL", "Indicator", "IndicatorError", "IndicatorTable", "RefreshReport", "ReleaseError", "approve_release",
    "available_periods", "create_release", "default_indicators", "get_release", "list_releases", "load_indicators",
    "on_accepted", "population_table", "publish", "query", "query_release", "refresh",
]
