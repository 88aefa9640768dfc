"""`marsad indicators`: list definitions, refresh the aggregate table, show tables, manage releases."""
from __future__ import annotations

import datetime as dt
import sys

import click

from services import db
from services.catalog import default_catalog
from services.cli import EXIT_DENIED, EXIT_NOT_FOUND, EXIT_PROBLEMS
from services.cli.common import ID, LANG_OPTION, YEAR, emit_json, operator
from services.indicators import (ReleaseError, approve_release, available_periods, create_release,
                                 default_indicators, list_releases, publish, query, query_release, refresh)
from services.indicators.definitions import UNKNOWN, Indicator
from services.indicators.table import TOTAL, IndicatorTable

_WORDS = {
    TOTAL: {"ar": "المجموع", "fr": "Total", "en": "Total"},
    UNKNOWN: {"ar": "غير معروف", "fr": "Inconnu", "en": "Unknown"},
    "value": {"ar": "القيمة", "fr": "Valeur", "en": "Value"},
    "year": {"ar": "السنة", "fr": "Année", "en": "Year"},
    "month": {"ar": "الشهر", "fr": "Mois", "en": "Month"},
}


def _indicator(code: str) -> Indicator:
    try:
        return default_indicators()[code]
    except KeyError:
        click.echo(f"no indicator {code!r}; see `marsad indicators list`", err=True)
        sys.exit(EXIT_NOT_FOUND)


def _label(ind: Indicator, dim: str, code, lang: str) -> str:
    code = str(code)
    if code in (TOTAL, UNKNOWN):
        return _WORDS[code][lang]
    if dim in ("year", "month"):
        return code
    d = ind.dimension(dim)
    if code in d.codes:
        return d.codes[code][lang]
    if d.codelist:
        return default_catalog().codelists[d.codelist].label(code, lang)
    return code


def _heading(ind: Indicator, dim: str, lang: str) -> str:
    if dim in _WORDS:
        return _WORDS[dim][lang]
    return ind.dimension_label(dim).get(lang, dim)


def _filters(year, month, pairs) -> dict:
    filters: dict = {}
    if year:
        filters["year"] = year
    if month:
        filters["month"] = month
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r}: expected dimension=code[,code]", param_hint="--filter")
        name, codes = pair.split("=", 1)
        values = [c.strip() for c in codes.split(",") if c.strip()]
        filters[name.strip()] = values if len(values) > 1 else values[0]
    return filters


def _by(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def _sorted(table: IndicatorTable):
    return sorted(table.cells.items(), key=lambda kv: tuple(map(str, kv[0])))


def _print_table(ind: Indicator, table: IndicatorTable, lang: str, as_json: bool) -> None:
    if as_json:
        emit_json({"indicator": table.indicator, "dimensions": list(table.dimensions), "unit": table.unit,
                   "year": table.meta.get("year"), "release": table.meta.get("release"),
                   "cells": [{**dict(zip(table.dimensions, key)), "value": value} for key, value in _sorted(table)]})
        return
    click.echo(f"{ind.names[lang]} ({ind.code})")
    if table.meta.get("year"):
        click.echo(f"{_WORDS['year'][lang]}: {table.meta['year']}")
    if table.meta.get("release"):
        r = table.meta["release"]
        click.echo(f"release v{r['version']} ({r['status']}, {r['date'] or '-'})" + (f": {r['note']}" if r["note"] else ""))
    headings = [_heading(ind, d, lang) for d in table.dimensions] + [_WORDS["value"][lang]]
    lines = []
    for key, value in _sorted(table):
        shown = "" if value is None else (f"{value:,.2f}" if isinstance(value, float) else f"{value:,}")
        lines.append([_label(ind, d, c, lang) for d, c in zip(table.dimensions, key)] + [shown])
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headings)]
    click.echo("  ".join(h.ljust(w) if i < len(headings) - 1 else h.rjust(w)
                         for i, (h, w) in enumerate(zip(headings, widths))))
    for line in lines:
        click.echo("  ".join(c.ljust(w) if i < len(line) - 1 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths))))
    if not lines:
        click.echo("(no cells: nothing accepted yet for this selection, or not refreshed)")


def _fail(err: ReleaseError) -> None:
    click.echo(f"refused: {err}", err=True)
    sys.exit({"denied": EXIT_DENIED, "not_found": EXIT_NOT_FOUND}.get(err.code, EXIT_PROBLEMS))


@click.group("indicators")
def indicators_group() -> None:
    """Indicators computed from accepted submissions, and their releases."""


@indicators_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@LANG_OPTION
def list_indicators(as_json, lang):
    """Every indicator defined in the catalog, with the periods computed so far."""
    engine = db.default_engine()
    rows = []
    for code, ind in sorted(default_indicators().items()):
        periods = available_periods(engine, code)
        years = sorted({y for y, _ in periods})
        rows.append({"code": code, "name": ind.names[lang], "source": ind.dataset, "unit": ind.unit,
                     "references": list(ind.references), "dimensions": list(ind.dimension_names),
                     "years": years})
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        span = f"{r['years'][0]}-{r['years'][-1]}" if r["years"] else "not computed"
        click.echo(f"{r['code']:<30} {span:<11} {r['source']:<24} {r['name']}")


@indicators_group.command("refresh")
@click.option("--submission", type=ID, help="Only the slices this submission's rows touch.")
@click.option("--indicator", "-i", "codes", multiple=True, help="Only this indicator (repeatable).")
def refresh_command(submission, codes):
    """Recompute the aggregate table from accepted data (everything unless --submission)."""
    for code in codes:
        _indicator(code)
    try:
        reports = refresh(db.default_engine(), submission, indicators=codes or None)
    except KeyError as err:
        click.echo(str(err).strip("'\""), err=True)
        sys.exit(EXIT_NOT_FOUND)
    for r in reports:
        click.echo(f"{r.indicator:<30} {len(r.slices):>4} periods {r.cells:>9,} cells  {r.seconds:6.2f} s")


def _show_options(f):
    for option in reversed([
        click.option("--year", type=YEAR),
        click.option("--month", help="1-12 or YYYY-MM"),
        click.option("--by", help="Dimensions, comma-separated, e.g. nationality,sex (and year, month)."),
        click.option("--filter", "pairs", multiple=True, help="dimension=code[,code], repeatable."),
        click.option("--json", "as_json", is_flag=True),
        LANG_OPTION,
    ]):
        f = option(f)
    return f


@indicators_group.command("show")
@click.argument("code")
@_show_options
def show(code, year, month, by, pairs, as_json, lang):
    """The live table of indicator CODE (not a release: figures may still change)."""
    ind = _indicator(code)
    try:
        table = query(db.default_engine(), code, _filters(year, month, pairs), _by(by))
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    _print_table(ind, table, lang, as_json)


@indicators_group.group("release")
def release_group() -> None:
    """Releases: draft -> approved -> published on a release date (embargoed before it)."""


@release_group.command("create")
@click.argument("code")
@click.option("--year", type=YEAR, multiple=True, help="Years to freeze (default: all computed).")
@click.option("--note", help="What this version is; required for a revision.")
@click.option("--user", help="Act as this local account instead of the operator.")
def release_create(code, year, note, user):
    """Freeze the current cells of CODE as a draft."""
    _indicator(code)
    scope = {"year": list(year)} if year else None
    try:
        r = create_release(db.default_engine(), code, scope, operator("ONM", "onm_analyst", user), note=note)
    except ReleaseError as err:
        _fail(err)
    click.echo(f"{code} v{r.version}: draft, {r.cells:,} cells frozen")


@release_group.command("approve")
@click.argument("code")
@click.argument("version", type=ID)
@click.option("--user", help="Act as this local account (not the one who drafted).")
def release_approve(code, version, user):
    """Approve a draft (someone other than its author)."""
    _indicator(code)
    try:
        approve_release(db.default_engine(), code, version, operator("ONM", "onm_analyst", user))
    except ReleaseError as err:
        _fail(err)
    click.echo(f"{code} v{version}: approved")


@release_group.command("publish")
@click.argument("code")
@click.argument("version", type=ID)
@click.option("--date", "release_date", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Release date (default today); embargoed until then.")
@click.option("--user", help="Act as this local account instead of the operator.")
def release_publish(code, version, release_date, user):
    """Publish an approved version on a release date."""
    _indicator(code)
    day = release_date.date() if release_date else None
    try:
        r = publish(db.default_engine(), code, version, operator("ONM", "onm_analyst", user), release_date=day)
    except ReleaseError as err:
        _fail(err)
    click.echo(f"{code} v{version}: published, release date {r.release_date}")


@release_group.command("list")
@click.argument("code", required=False)
@click.option("--json", "as_json", is_flag=True)
def release_list(code, as_json):
    """Every version of every indicator (or of CODE), with its status and release date."""
    releases = list_releases(db.default_engine(), code)
    if as_json:
        emit_json([r.model_dump() for r in releases])
        return
    today = dt.date.today()
    for r in releases:
        state = r.status
        if r.status == "published" and r.release_date and r.release_date > today:
            state = "embargoed"
        click.echo(f"{r.indicator:<30} v{r.version:<3} {state:<10} {r.release_date or '-'!s:<10} "
                   f"{r.cells:>8,} cells  by {r.created_by}" + (f"  «{r.note}»" if r.note else ""))


@release_group.command("show")
@click.argument("code")
@click.option("--version", type=ID, help="Default: the latest published.")
@_show_options
def release_show(code, version, year, month, by, pairs, as_json, lang):
    """A frozen release of CODE, as the operator (who may see embargoed versions)."""
    ind = _indicator(code)
    try:
        table = query_release(db.default_engine(), code, _filters(year, month, pairs), _by(by),
                              principal=operator("ONM", "onm_analyst"), version=version)
    except ReleaseError as err:
        _fail(err)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    _print_table(ind, table, lang, as_json)


COMMANDS = [indicators_group]
