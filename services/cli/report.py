"""`marsad report`: the statistical yearbook of a year, as HTML and PDF."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from services.languages import LANGUAGES
from services.cli import EXIT_PROBLEMS
from services.cli.common import YEAR


SMALL = 8  # a dimension with at most this many codes (sex, direction...) can cross every other one


def _size(dim) -> int:
    if getattr(dim, "codes", None):
        return len(dim.codes)
    if getattr(dim, "codelist", None):
        from services.catalog import default_catalog

        codelist = default_catalog().codelists.get(dim.codelist)
        return len(codelist.items) if codelist else SMALL + 1
    return SMALL + 1


def breakdowns(ind) -> list[tuple[str, ...]]:
    """The tables a yearbook prints for one indicator: its months (when it is monthly), then
    each of its dimensions, all crossed with its first small dimension (sex, direction...)
    when it has one -- a table of nationalities by month would be two hundred rows wide."""
    small = [d.name for d in ind.dimensions if _size(d) <= SMALL]
    cross = tuple(small[:1])
    out = [("month", *cross)] if "month" in ind.frequency else []
    out += [(d.name, *cross) for d in ind.dimensions if (d.name,) != cross]
    if not out and cross:
        out.append(cross)
    return out


def _engine():
    try:
        from services import indicators
    except ImportError as err:
        raise click.ClickException(
            f"the indicators engine is not available ({err}); give the tables with --tables FILE.json "
            "(one IndicatorTable or a list, see services/exports/tables_json.py)") from None
    return indicators


def indicator_table(code: str, year: int | None, by: tuple[str, ...], live: bool):
    """One indicator table: from its latest published release, or with `live` from the
    aggregate table (a draft, before anything is released). Raises the engine's ReleaseError
    when nothing is published."""
    indicators = _engine()
    from services import db
    from services.cli.common import operator
    from services.policy import load_policies

    filters = {"year": year} if year else {}
    try:
        if live:
            table = indicators.query(db.default_engine(), code, filters, by)
        else:
            reader = operator(load_policies().settings.observatory, "onm_analyst")
            table = indicators.query_release(db.default_engine(), code, filters, by, principal=reader)
    except ValueError as err:
        raise click.ClickException(f"indicator {code} by {', '.join(by) or 'total'}: {err}") from None
    ind = indicators.default_indicators().get(code)
    # stocks and rates: a total over months is no figure (see services/exports/metadata.py)
    table.meta.setdefault("periods_add_up", bool(getattr(ind, "additive_over_periods", True)))
    return table


def tables_from_engine(year: int, live: bool) -> list:
    """Every indicator's yearbook tables for `year` (see `breakdowns`)."""
    indicators = _engine()
    tables = []
    for code, ind in sorted(indicators.default_indicators().items()):
        for by in breakdowns(ind):
            try:
                table = indicator_table(code, year, by, live)
            except indicators.ReleaseError as err:
                click.echo(f"skipped {code}: {err}", err=True)
                break
            if table.cells:
                tables.append(table)
    return tables


def load_tables(tables_file: Path | None, year: int, live: bool = False):
    """(tables, computed here): from a JSON file, else from the indicators engine."""
    if tables_file is not None:
        return tables_file_contents(tables_file), False
    return tables_from_engine(year, live), True


def tables_file_contents(path: Path) -> list:
    from services.exports import tables_from_json

    try:
        return tables_from_json(path)
    except ValueError as err:
        raise click.ClickException(f"{path}: {err}") from None


def protect(tables, threshold: int, required: bool):
    """Apply disclosure control. Tables computed here always go through it; a table from a
    file that already has suppressed cells was protected where it was made and is kept."""
    pending = [t for t in tables if required or all(v is not None for v in t.cells.values())]
    if not pending:
        return tables
    try:
        from services.disclosure import protect as protect_table
    except ImportError:
        if required:
            raise click.ClickException("services.disclosure is not available: refusing to publish "
                                       "unprotected tables") from None
        click.echo("warning: services.disclosure not available; tables from the file are printed as given",
                   err=True)
        return tables
    out = []
    for t in tables:
        if not any(t is p for p in pending):
            out.append(t)
            continue
        try:
            out.append(protect_table(t, threshold=threshold))
        except ValueError as err:
            # Never published unprotected (e.g. rates, which cell suppression of counts does not cover).
            click.echo(f"left out {t.indicator} by {', '.join(t.dimensions) or 'total'}: "
                       f"disclosure control cannot protect it ({err})", err=True)
    return out


def _policies():
    try:
        from services.policy import load_policies

        return load_policies()
    except Exception as err:  # a report without the publisher's name is still a report
        click.echo(f"warning: policies not read ({err}); no publisher name or source institutions", err=True)
        return None


@click.command("report")
@click.option("--year", "-y", type=YEAR, required=True, help="Year the yearbook covers.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="fr", show_default=True,
              help="Language of the yearbook (ar is laid out right to left).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Folder for marsad-yearbook-YEAR-LANG.html and .pdf.")
@click.option("--tables", "tables_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Indicator tables as JSON instead of reading them from the database.")
@click.option("--live", is_flag=True,
              help="Read the live aggregates instead of the published releases (a draft yearbook).")
@click.option("--no-pdf", is_flag=True, help="Write the HTML only.")
def report(year: int, lang: str, out_dir: Path, tables_file: Path | None, live: bool, no_pdf: bool) -> None:
    """Write the statistical yearbook of YEAR: title page, contents, one section per indicator
    table (definition, table, chart, sources, notes) and the methodology.

    From the database, each indicator's latest published release is used (--live: the current
    aggregates), with disclosure control at the deployment's threshold.
    """
    from services.yearbook import write

    policies = _policies()
    threshold = policies.settings.min_cell_count if policies else 5
    tables, computed = load_tables(tables_file, year, live=live)
    if not tables:
        raise click.ClickException(f"no indicator table to publish for {year}")
    tables = protect(tables, threshold, required=computed)
    if not tables:
        raise click.ClickException("no table left to publish")
    publisher, institutions = None, {}
    if policies is not None:
        publisher = policies.institution(policies.settings.observatory).names
        datasets = {code for t in tables for code in (t.meta.get("sources") or t.meta.get("source_datasets") or ())}
        institutions = {code: [policies.institution(i).names for i in policies.submitters_of(code)]
                        for code in datasets}
    try:
        paths = write(tables, year, lang, out_dir, pdf=not no_pdf, publisher=publisher, institutions=institutions)
    except RuntimeError as err:
        click.echo(str(err), err=True)
        sys.exit(EXIT_PROBLEMS)
    for path in paths:
        click.echo(f"wrote {path}")


COMMANDS = [report]
