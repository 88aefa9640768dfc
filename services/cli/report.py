"""`marsad report`: the statistical yearbook of a year, as HTML and PDF."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from services.catalog import LANGUAGES
from services.cli import EXIT_PROBLEMS


def load_tables(tables_file: Path | None, year: int):
    """Tables from a JSON file, else computed from the database by the indicators engine."""
    if tables_file is not None:
        from services.exports import tables_from_json

        try:
            return tables_from_json(tables_file), False
        except ValueError as err:
            raise click.ClickException(f"{tables_file}: {err}") from None
    try:
        from services.indicators import query  # the computation engine, when installed
    except ImportError as err:
        raise click.ClickException(
            f"the indicators engine is not available ({err}); give the tables with --tables FILE.json "
            "(one IndicatorTable or a list, see services/exports/tables_json.py)") from None
    from services import db
    from services.catalog import CATALOG_DIR

    codes = sorted(path.stem for path in (CATALOG_DIR / "indicators").glob("*.yaml"))
    if not codes:
        raise click.ClickException("no indicator definitions in services/catalog/indicators/")
    engine = db.default_engine()
    tables = []
    for code in codes:
        try:
            tables.append(query(engine, code, {"year": year}, None))
        except Exception as err:  # one indicator failing should name itself, not abort unexplained
            raise click.ClickException(f"indicator {code}: {err}") from None
    return tables, True


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
    return [protect_table(t, threshold=threshold) if any(t is p for p in pending) else t for t in tables]


def _policies():
    try:
        from services.policy import load_policies

        return load_policies()
    except Exception as err:  # a report without the publisher's name is still a report
        click.echo(f"warning: policies not read ({err}); no publisher name or source institutions", err=True)
        return None


@click.command("report")
@click.option("--year", "-y", type=int, required=True, help="Year the yearbook covers.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="fr", show_default=True,
              help="Language of the yearbook (ar is laid out right to left).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Folder for marsad-yearbook-YEAR-LANG.html and .pdf.")
@click.option("--tables", "tables_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Indicator tables as JSON instead of computing them from the database.")
@click.option("--no-pdf", is_flag=True, help="Write the HTML only.")
def report(year: int, lang: str, out_dir: Path, tables_file: Path | None, no_pdf: bool) -> None:
    """Write the statistical yearbook of YEAR: title page, contents, one section per indicator
    (definition, table, chart, sources, notes) and the methodology."""
    from services.yearbook import write

    policies = _policies()
    threshold = policies.settings.min_cell_count if policies else 5
    tables, computed = load_tables(tables_file, year)
    if not tables:
        raise click.ClickException("no indicator table to publish")
    tables = protect(tables, threshold, required=computed)
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
