"""The indicators dashboard: a chart and a table of one indicator, as the reader's access level allows.

    /dashboard                        the indicators the reader may read
    /dashboard/<code>?by=&split=&year=&month=&<dimension>=&version=
                                      chart, table, downloads, forecast of one indicator
    /dashboard/<code>/download?format=csv|xlsx|sdmx-csv&...   exactly the table shown
    /dashboard/plotly.min.js          the chart library, served from the installed `plotly` package

Reads are audited (services/audit.py): each download as export.csv, export.xlsx or export.sdmx, and
each page shown at a microdata level (no disclosure control) as microdata.read, with the reader,
the indicator, its dataset, the level and the exact filters and breakdown of the table.

Every figure comes through services.indicators.reading.read, the rule the JSON API uses too: the
policy's indicator.read level on the source dataset, releases only for `published` readers,
disclosure control below microdata. Totals over periods are dropped after protection (hiding a
published cell is always safe), so the page, CSV, XLSX and SDMX-CSV hold the same cells.

The chart library is not copied into the repository (4.8 MB): it is read from the installed
`plotly` Python package, which bundles plotly.min.js, and sent with a long cache lifetime.
Without the package the page still shows the table; only the chart is missing.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date as babel_format_date
from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import Blueprint, Response, abort, redirect, render_template, request, send_file, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from services import audit
from services.disclosure import MICRODATA_LEVELS
from services.exports import FORMATS, describe, format_number, to_csv, to_sdmx_csv, to_xlsx
from services.exports.metadata import LOCALES, UNKNOWN, ordered_keys, shown_value
from services.indicators import ReleaseError, available_periods, default_indicators, list_releases
from services.indicators.reading import ReadRefused, read, read_level, reads_releases_only, release_periods
from services.indicators.table import TOTAL, IndicatorTable
from services.policy import Resource

from portal.access import current_principal, require
from portal.i18n import current_language, text_in
from portal.runtime import db_session, runtime

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

TIME = ("year", "month")
CHART_CATEGORIES = 25        # bars drawn at most; the table lists every category
LONG_LIST = 12               # a dimension with more codes is ordered by value in the chart
FORECAST_MIN_MONTHS = 36     # three years: two to fit the seasonal model, one to backtest it
FORECAST_HORIZON = 12
# The mark of a suppressed cell: the statistical offices' "c" (confidential); in Arabic "س" (سرّي).
SUPPRESSED_MARK = {"ar": "س", "fr": "c", "en": "c"}
DOWNLOADS = (("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("sdmx-csv", "SDMX-CSV"))
EXPORT_ACTIONS = {"csv": "export.csv", "xlsx": "export.xlsx", "sdmx-csv": "export.sdmx"}  # audit trail names
LEVEL_LABELS = {
    "published": _l("published releases only"),
    "aggregates": _l("aggregates under disclosure control"),
    "own_microdata": _l("own microdata"),
    "pseudonymised_microdata": _l("pseudonymised microdata"),
}


# --- which indicator, and who may read it --------------------------------------------------------

def definitions() -> dict:
    return default_indicators()


def indicator_resource(code: str | None = None) -> Resource:
    """The indicator as the policy sees it: its source dataset. An unknown code is asked about as
    indicators in general, so that a reader who may read none gets 403 before learning it is absent."""
    ind = definitions().get(code) if code else None
    return Resource("indicator", dataset=ind.dataset if ind else None)


def readable_indicators() -> list[tuple[object, str]]:
    """(indicator, the level its tables are made for) of every indicator the reader may read."""
    policies, principal = runtime().policies, current_principal()
    out = []
    for ind in definitions().values():
        try:
            out.append((ind, read_level(policies, principal, ind)))
        except ReadRefused:
            continue
    return sorted(out, key=lambda pair: text_in(pair[0].names, pair[0].code))


# --- what the reader asked for ----------------------------------------------------------------------

@dataclass
class Selection:
    """The query string, checked against the indicator: nothing it does not have gets through."""
    by: str                                   # the chart's axis: "month", "year" or a dimension
    split: str | None = None                  # a second dimension: one series per code
    year: int | None = None
    month: int | None = None
    filters: dict[str, str] = field(default_factory=dict)   # dimension -> code
    version: int | None = None

    def args(self, **extra) -> dict:
        out = {"by": self.by, "split": self.split, "year": self.year, "month": self.month,
               "version": self.version, **self.filters, **extra}
        return {k: v for k, v in out.items() if v not in (None, "")}


def dimension_codes(ind, catalog) -> dict[str, list[str]]:
    """Each dimension's codes in publication order: inline codes, else its codelist's."""
    out = {}
    for d in ind.dimensions:
        if d.codes:
            out[d.name] = list(d.codes)
        elif d.codelist and d.codelist in catalog.codelists:
            out[d.name] = catalog.codelists[d.codelist].codes
        else:
            out[d.name] = []
    return out


def selection_from(ind, args, years: list[int], months_of: dict[int, list[int]], codes: dict) -> Selection:
    monthly = "month" in ind.frequency
    axes = (["month"] if monthly else []) + ["year", *ind.dimension_names]
    default = "month" if monthly else (ind.dimension_names[0] if ind.dimension_names else "year")
    by = args.get("by") if args.get("by") in axes else default
    split = args.get("split") if args.get("split") in ind.dimension_names and args.get("split") != by else None
    year = args.get("year", type=int)
    if year not in years:
        year = years[-1] if years else None
    month = args.get("month", type=int) if monthly and by not in TIME else None
    if month is not None and month not in months_of.get(year, []):
        month = None
    filters = {}
    for name in ind.dimension_names:
        value = args.get(name)
        if name not in (by, split) and value and (value in codes[name] or value == UNKNOWN):
            filters[name] = value
    return Selection(by, split, year, month, filters, args.get("version", type=int))


def query_of(sel: Selection, years: list[int]) -> tuple[dict, tuple[str, ...], tuple[str, str] | None]:
    """(filters, by, period) for services.indicators. A breakdown by a dimension is of one period,
    which is put back as the table's first column after protection (`with_period`): every download
    then says which year or month its figures are of, and disclosure control works on a table half
    the size (a period column of one code only repeats every cell in its margin)."""
    filters: dict = dict(sel.filters)
    period = None
    if sel.by == "year":
        filters["year"], by = list(years), ("year",)
    elif sel.by == "month":
        filters["year"], by = sel.year, ("month",)
    elif sel.month:
        filters["month"], by = f"{sel.year:04d}-{sel.month:02d}", (sel.by,)
        period = ("month", filters["month"])
    else:
        filters["year"], by = sel.year, (sel.by,)
        period = ("year", str(sel.year))
    return filters, by + ((sel.split,) if sel.split else ()), period


def with_period(table: IndicatorTable, period: tuple[str, str] | None) -> IndicatorTable:
    if period is None:
        return table
    name, code = period
    return IndicatorTable(table.indicator, (name, *table.dimensions),
                          {(code, *k): v for k, v in table.cells.items()}, table.unit,
                          {(code, *k): f for k, f in table.flags.items()}, table.meta)


def without_period_totals(table: IndicatorTable) -> IndicatorTable:
    """The protected table less its totals over periods (a year's months are shown by themselves)."""
    time = [i for i, d in enumerate(table.dimensions) if d in TIME]
    keep = {k: v for k, v in table.cells.items() if not any(k[i] == TOTAL for i in time)}
    return IndicatorTable(table.indicator, table.dimensions, keep, table.unit,
                          {k: f for k, f in table.flags.items() if k in keep}, table.meta)


# --- what the reader's level lets them see --------------------------------------------------------

@dataclass
class Source:
    """Live figures or a release, the release versions the reader may choose, and the periods held."""
    released: bool
    release: object = None        # services.models_indicators.Release shown, when released
    releases: list = field(default_factory=list)
    periods: list[tuple[int, int]] = field(default_factory=list)
    live_allowed: bool = True

    @property
    def years(self) -> list[int]:
        return sorted({y for y, _m in self.periods})

    @property
    def months_of(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for y, m in self.periods:
            if m:
                out.setdefault(y, []).append(m)
        return out


def source_for(ind, level: str, version: int | None) -> Source:
    rt, principal = runtime(), current_principal()
    releases = list_releases(rt.engine, ind.code, principal=principal, policies=rt.policies,
                             definitions=definitions())
    live_allowed = not reads_releases_only(level)
    if version is None and live_allowed:
        return Source(False, None, releases, available_periods(rt.engine, ind.code), True)
    if version is not None:
        chosen = next((r for r in releases if r.version == version), None)
    else:  # the latest published version as of today (list_releases shows a `published` reader no other)
        chosen = max((r for r in releases if r.status == "published"), key=lambda r: r.version, default=None)
    if chosen is None:
        return Source(True, None, releases, [], live_allowed)
    return Source(True, chosen, releases, release_periods(rt.engine, chosen.id), live_allowed)


@dataclass
class View:
    """Everything the page and the downloads are made of."""
    ind: object
    level: str
    source: Source
    selection: Selection
    codes: dict
    table: IndicatorTable | None = None
    problem: str | None = None
    filters: dict = field(default_factory=dict)   # the query the table was read with (for the audit trail)
    by: tuple[str, ...] = ()


def build_view(code: str) -> View:
    ind = definitions().get(code)
    if ind is None:
        abort(404)
    rt = runtime()
    try:
        level = read_level(rt.policies, current_principal(), ind)
    except ReadRefused:
        abort(403)
    codes = dimension_codes(ind, rt.catalog)
    source = source_for(ind, level, request.args.get("version", type=int))
    sel = selection_from(ind, request.args, source.years, source.months_of, codes)
    view = View(ind, level, source, sel, codes)
    if source.released and source.release is None:
        view.problem = (_("No release of this indicator has been published yet.") if sel.version is None
                        else _("There is no release version %(version)s that you may see.", version=sel.version))
        return view
    if not source.years:
        view.problem = _("No figures yet: nothing accepted has been counted in this indicator.")
        return view
    filters, by, period = query_of(sel, source.years)
    view.filters, view.by = filters, by
    version = source.release.version if source.released else None
    try:
        reading = read(rt.engine, rt.policies, current_principal(), ind.code, filters, by, version=version,
                       definitions=definitions())
    except ReadRefused as exc:
        if exc.code == "denied":
            abort(403)
        if exc.code in ("too_many_dimensions", "too_many_cells"):
            view.problem = _("This table would have too many cells to protect and show at once. Choose fewer "
                             "breakdowns, or filter by a year or a category.")
        elif exc.code == "time_budget":
            view.problem = _("Protecting this table took longer than a query may. Choose fewer breakdowns or "
                             "narrower filters.")
        else:
            view.problem = _("Disclosure control cannot protect this table, so it is not shown. Choose another "
                             "breakdown.")
        return view
    except ReleaseError:
        view.problem = _("No release of this indicator has been published yet.")
        return view
    except (KeyError, ValueError):
        view.problem = _("This combination of breakdown and filters cannot be shown for this indicator.")
        return view
    view.table = without_period_totals(with_period(reading.table, period))
    return view


def audit_read(action: str, view: View, **details) -> None:
    """Who read which table, at which level, with which filters; committed before the answer leaves."""
    principal = current_principal()
    release = view.source.release
    audit.record(db_session(), actor=principal.username, institution=principal.institution, action=action,
                 target=f"indicator:{view.ind.code}",
                 details={"via": "dashboard", "indicator": view.ind.code, "dataset": view.ind.dataset,
                          "level": view.level, "filters": view.filters, "by": list(view.by),
                          "version": release.version if release is not None else None, **details})


# --- the page's table and chart ---------------------------------------------------------------------

def table_rows(table: IndicatorTable, description, lang: str) -> list[dict]:
    rows = []
    for key in ordered_keys(table, description):
        value = shown_value(table, key)
        flag = table.flags.get(key)  # a value that is None without a flag is missing, not suppressed
        rows.append({
            "key": "|".join(map(str, key)),
            # (label, code): codes of time and of totals say nothing the label does not
            "cells": [(dim.code_label(code, lang), None if dim.is_time or code == TOTAL else str(code))
                      for dim, code in zip(description.dimensions, key)],
            "total": TOTAL in key,
            "value": value,
            "shown": format_number(value, lang) if value is not None else None,
            "flag": flag,
        })
    return rows


def chart_of(view: View, description, lang: str) -> dict | None:
    """The chart as plain data for dashboard.js: categories (in reading order) and one series per
    code of the split dimension; suppressed values are null, never their count."""
    table = view.table
    if table is None or not table.cells:
        return None
    dims = list(table.dimensions)
    axis = dims.index(view.selection.by)
    split = dims.index(view.selection.split) if view.selection.split else None
    x_dim, split_dim = description.dimensions[axis], (description.dimensions[split] if split is not None else None)
    categories: list = []
    series: dict = {}
    for key in ordered_keys(table, description):
        x_code = key[axis]
        s_code = key[split] if split is not None else TOTAL
        if x_code == TOTAL or (split is not None and s_code == TOTAL):
            continue
        if x_code not in categories:
            categories.append(x_code)
        series.setdefault(s_code, {})[x_code] = (shown_value(table, key), key in table.flags)
    if not categories:
        return None
    time_axis = view.selection.by in TIME
    if not time_axis and len(view.codes.get(view.selection.by, ())) > LONG_LIST:
        # A long list (nationalities, border posts): largest first, at most CHART_CATEGORIES of them;
        # short ones (sex, age groups) keep their codelist's order. The table has them all.
        first = series[next(iter(series))]
        categories = sorted(categories, key=lambda c: -(first.get(c, (None,))[0] or 0))[:CHART_CATEGORIES]
    mark = SUPPRESSED_MARK[lang]
    traces = []
    for s_code, values in series.items():
        points = [values.get(c, (0, False)) for c in categories]  # an absent cell counts nobody
        traces.append({
            "name": split_dim.code_label(s_code, lang) if split_dim else description.name(lang),
            "values": [v for v, _flagged in points],
            "texts": [format_number(v, lang) if v is not None else mark if flagged else "–" for v, flagged in points],
        })
    return {
        "kind": "line" if time_axis else "bar",
        "categories": [x_dim.code_label(c, lang) for c in categories],
        "series": traces,
        "axis_title": x_dim.label(lang),
        "value_title": description.unit_label(lang),
        **chart_locale(lang),
    }


def chart_locale(lang: str) -> dict:
    locale = LOCALES[lang]
    return {"rtl": lang == "ar", "separators": get_decimal_symbol(locale) + get_group_symbol(locale),
            "lang": lang}


# --- forecast ---------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _forecast(series: tuple[tuple[dt.date, float | None], ...]):
    # Same series, same forecast: cached per process so that reloading the page refits nothing.
    from services.forecast import forecast

    return forecast(list(series), horizon=FORECAST_HORIZON)


def forecast_of(view: View, lang: str) -> dict:
    """{"note": why not} or the forecast chart; made from the protected monthly series of the same
    selection (without its breakdown), so that it tells nothing the table would not."""
    ind, sel = view.ind, view.selection
    if "month" not in ind.frequency:
        return {"note": _("Forecasts are made for monthly indicators; this one is yearly.")}
    if view.table is None:
        return {"note": _("No forecast without figures.")}
    rt = runtime()
    by = ("month",) if ind.additive_over_periods else ("year", "month")
    version = view.source.release.version if view.source.released else None
    try:
        reading = read(rt.engine, rt.policies, current_principal(), ind.code,
                       {**sel.filters, "year": view.source.years}, by, version=version, definitions=definitions())
    except (ReadRefused, ReleaseError, KeyError, ValueError):
        return {"note": _("No forecast: the monthly series of this selection cannot be shown.")}
    months: dict[dt.date, float | None] = {}
    for key, value in reading.table.cells.items():
        code = key[-1]
        if code == TOTAL or key[0] == TOTAL:
            continue
        year, month = (int(p) for p in str(code).split("-"))
        months[dt.date(year, month, 1)] = None if key in reading.table.flags else value
    observed = sum(v is not None for v in months.values())
    if observed < FORECAST_MIN_MONTHS:
        return {"note": _("A forecast needs at least %(needed)s months of figures; this selection has %(count)s.",
                          needed=FORECAST_MIN_MONTHS, count=observed)}
    if any(v is not None and v < 0 for v in months.values()):
        return {"note": _("No forecast: the series has negative values.")}
    try:
        result = _forecast(tuple(sorted(months.items())))
    except (ValueError, ArithmeticError):
        return {"note": _("The forecasting model could not be fitted to this series.")}
    history = sorted(months.items())
    points = result.points

    def label(day: dt.date) -> str:
        return month_label(day, lang)

    chart = {
        "kind": "forecast",
        "observed": {"x": [label(d) for d, _v in history], "values": [v for _d, v in history],
                     "texts": [format_number(v, lang) if v is not None else SUPPRESSED_MARK[lang]
                               for _d, v in history]},
        "forecast": {"x": [label(d) for d, *_r in points],
                     "mean": [round(m, 1) for _d, m, _lo, _hi in points],
                     "lower": [round(lo, 1) for _d, _m, lo, _hi in points],
                     "upper": [round(hi, 1) for _d, _m, _lo, hi in points],
                     "texts": [f"{format_number(round(m), lang)} ({format_number(round(lo), lang)} – "
                               f"{format_number(round(hi), lang)})" for _d, m, lo, hi in points]},
        "names": {"observed": _("Observed"), "forecast": _("Forecast"),
                  "interval": _("%(level)s%% interval", level=round(result.level * 100))},
        "value_title": "",
        **chart_locale(lang),
    }
    mape = result.backtest_mape
    return {"chart": chart, "model": result.model, "level": round(result.level * 100), "months": observed,
            "mape": format_number(mape, lang, decimals=1) if mape is not None and math.isfinite(mape) else None,
            "table": [(label(d), format_number(round(m), lang), format_number(round(lo), lang),
                       format_number(round(hi), lang)) for d, m, lo, hi in points]}


def month_label(day: dt.date, lang: str) -> str:
    from services.exports.metadata import period_label

    return period_label(f"{day.year:04d}-{day.month:02d}", lang)


# --- the filter form --------------------------------------------------------------------------------

def form_of(view: View, description_all, lang: str) -> dict:
    ind, sel = view.ind, view.selection
    monthly = "month" in ind.frequency
    axes = ([("month", _("Month"))] if monthly else []) + [("year", _("Year"))]
    axes += [(d.id, d.label(lang)) for d in description_all.dimensions]
    filters = []
    for d in description_all.dimensions:
        if d.id in (sel.by, sel.split):
            continue
        options = [(code, d.code_label(code, lang)) for code in view.codes.get(d.id, [])]
        if len(options) > LONG_LIST:  # long lists (countries) are easier to search alphabetically
            options.sort(key=lambda o: o[1].casefold())
        filters.append({"name": d.id, "label": d.label(lang), "options": options, "value": sel.filters.get(d.id)})
    months = [(m, babel_format_date(dt.date(2000, m, 1), "LLLL", locale=LOCALES[lang]))
              for m in view.source.months_of.get(sel.year, [])] if monthly and sel.by not in TIME else []
    return {"axes": axes, "splits": [(d.id, d.label(lang)) for d in description_all.dimensions if d.id != sel.by],
            "years": list(reversed(view.source.years)) if sel.by != "year" else [], "months": months,
            "filters": filters}


def release_options(view: View) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of the "Figures" choice: live figures when the level allows, then
    the release versions the reader may see, newest first."""
    source = view.source
    shown = source.release.version if source.released and source.release is not None else None
    out = [("", _("Live: every accepted submission"), shown is None)] if source.live_allowed else []
    for r in sorted(source.releases, key=lambda r: -r.version):
        out.append((str(r.version), release_label(r), r.version == shown))
    return out


def release_label(release) -> str:
    if release.status == "published" and release.release_date is not None:
        return _("Release %(version)s, published %(date)s", version=release.version,
                 date=format_date(release.release_date, "medium"))
    states = {"draft": _("draft"), "approved": _("approved, not published")}
    return _("Release %(version)s (%(state)s)", version=release.version,
             state=states.get(release.status, release.status))


# --- routes -----------------------------------------------------------------------------------------

@bp.route("")
@require("indicator.read", lambda: indicator_resource())
def index():
    chosen = request.args.get("indicator")
    if chosen in definitions():
        return redirect(url_for("dashboard.indicator", code=chosen))
    return render_template("dashboard/index.html", indicators=readable_indicators(), level_labels=LEVEL_LABELS)


@bp.route("/<code>")
@require("indicator.read", indicator_resource)
def indicator(code: str):
    view = build_view(code)
    lang = current_language()
    catalog = runtime().catalog
    description_all = describe({"code": view.ind.code, "dimensions": list(view.ind.dimension_names),
                                **view.ind.meta(catalog)}, catalog)
    context = {"view": view, "ind": view.ind, "sel": view.selection, "lang": lang,
               "indicators": readable_indicators(), "form": form_of(view, description_all, lang),
               "level_label": LEVEL_LABELS.get(view.level, view.level), "mark": SUPPRESSED_MARK[lang],
               "downloads": DOWNLOADS, "threshold": runtime().policies.settings.min_cell_count,
               "releases": release_options(view),
               "plotly": plotly_bundle() is not None}
    if view.table is not None:
        if view.level in MICRODATA_LEVELS:  # below that level the table went through disclosure control
            audit_read("microdata.read", view)
        description = describe(view.table, catalog)
        rows = table_rows(view.table, description, lang)
        context.update(description=description, rows=rows, chart=chart_of(view, description, lang),
                       suppressed=sum(1 for r in rows if r["flag"]), forecast=forecast_of(view, lang),
                       headings=[d.label(lang) for d in description.dimensions],
                       unit=description.unit_label(lang))
    return render_template("dashboard/indicator.html", **context)


@bp.route("/<code>/download")
@require("indicator.read", indicator_resource)
def download(code: str):
    fmt = request.args.get("format", "csv")
    if fmt not in dict(DOWNLOADS):
        abort(404)
    view = build_view(code)
    if view.table is None:
        abort(404)
    lang, catalog = current_language(), runtime().catalog
    if fmt == "csv":
        body = to_csv(view.table, lang, catalog)
    elif fmt == "xlsx":
        body = to_xlsx(view.table, lang, catalog)
    else:
        body = to_sdmx_csv(view.table, catalog)
    audit_read(EXPORT_ACTIONS[fmt], view, format=fmt, language=lang)
    extension, mimetype = FORMATS[fmt]
    parts = [code, view.selection.by, view.selection.split, view.selection.year, view.selection.month]
    name = "-".join(str(p) for p in parts if p) + ("-sdmx" if fmt == "sdmx-csv" else f"-{lang}")
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="marsad-{name}.{extension}"'})


@lru_cache(maxsize=1)
def plotly_bundle() -> tuple[Path, str] | None:
    """(path of plotly.min.js, plotly version) from the installed package, or None without it."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return (path, plotly.__version__) if path.is_file() else None


@bp.route("/plotly.min.js")
@require("indicator.read", lambda: indicator_resource())
def plotly_js():
    bundle = plotly_bundle()
    if bundle is None:
        abort(404)
    # The URL carries the version (?v=), so browsers may keep it: 4.8 MB fetched once, not per page.
    response = send_file(bundle[0], mimetype="text/javascript", max_age=365 * 24 * 3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


@bp.app_template_global()
def plotly_url() -> str:
    bundle = plotly_bundle()
    return url_for("dashboard.plotly_js", v=bundle[1] if bundle else None)
