"""`marsad export`: one indicator table as CSV, XLSX, SDMX-CSV, or its SDMX structure message."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from services.languages import LANGUAGES
from services.cli import EXIT_NOT_FOUND, EXIT_PROBLEMS
from services.cli.common import YEAR


@click.command("export")
@click.argument("indicator")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "sdmx-csv", "sdmx-structure"]), default="csv",
              show_default=True)
@click.option("--lang", type=click.Choice(LANGUAGES), default="fr", show_default=True,
              help="Language of labels (csv, xlsx).")
@click.option("--year", "-y", type=YEAR, help="Year (from the database; default: the latest).")
@click.option("--by", help="Dimensions, comma-separated (from the database), e.g. month,sex.")
@click.option("--live", is_flag=True, help="The live aggregates instead of the latest published release.")
@click.option("--tables", "tables_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Take the table from this JSON file instead of the database.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write [default: stdout].")
def export(indicator: str, fmt: str, lang: str, year: int | None, by: str | None, live: bool,
           tables_file: Path | None, out: Path | None) -> None:
    """Export INDICATOR with disclosure control applied. The SDMX structure of an indicator
    is built from its definition when no table is given (it needs no data)."""
    from services import exports
    from services.cli.report import indicator_table, protect, tables_file_contents

    if fmt == "sdmx-structure" and tables_file is None:
        data = exports.data_structure(_definition(indicator))
    else:
        if tables_file is not None:
            tables = [t for t in tables_file_contents(tables_file) if t.indicator == indicator]
            if not tables:
                click.echo(f"{tables_file} has no table of indicator {indicator!r}", err=True)
                sys.exit(EXIT_NOT_FOUND)
            table, computed = tables[0], False
        else:
            _definition(indicator)      # an unknown indicator: exit 4 before any query
            dims = tuple(d.strip() for d in (by or "").split(",") if d.strip())
            table, computed = indicator_table(indicator, year, dims, live), True
        protected = protect([table], _threshold(), required=computed)
        if not protected:
            sys.exit(EXIT_PROBLEMS)
        table = protected[0]
        data = {
            "csv": lambda: exports.to_csv(table, lang),
            "xlsx": lambda: exports.to_xlsx(table, lang),
            "sdmx-csv": lambda: exports.to_sdmx_csv(table),
            "sdmx-structure": lambda: exports.data_structure(table),
        }[fmt]()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        click.echo(f"wrote {out}", err=True)
    elif fmt == "xlsx" and sys.stdout.isatty():
        raise click.UsageError("XLSX is binary: give --out FILE.xlsx")
    else:
        sys.stdout.buffer.write(data)


def _definition(code: str) -> dict:
    """The indicator's definition as the exports read it (see services/exports/metadata.py)."""
    try:
        from services.indicators import default_indicators
    except ImportError as err:
        raise click.ClickException(f"the indicators engine is not available ({err})") from None
    ind = default_indicators().get(code)
    if ind is None:
        click.echo(f"no indicator {code!r}; see `marsad indicators list`", err=True)
        sys.exit(EXIT_NOT_FOUND)
    dims = [{"name": "month" if "month" in ind.frequency else "year"}]
    dims += [{"name": d.name, "codelist": d.codelist} for d in ind.dimensions]
    return {"code": ind.code, "unit": ind.unit, "dimensions": dims, **ind.meta()}


def _threshold() -> int:
    try:
        from services.policy import load_policies

        return load_policies().settings.min_cell_count
    except Exception:  # policies unreadable: the documented default rule
        return 5


COMMANDS = [export]
