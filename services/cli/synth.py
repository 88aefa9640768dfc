"""`marsad synth`: synthetic partner files for demos, training sandboxes, tests and benchmarks."""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import click

from services.catalog import CatalogError, default_catalog
from services.cells import csv_row
from services.cli import EXIT_NOT_FOUND
from services.cli.common import YEAR
from services.synth import ERROR_KINDS, default_year, write_file
from services.synth.output import ENCODINGS, FORMATS

PROGRESS_ABOVE = 10_000  # rows; smaller files are written before a bar could be read
ERRORS_SHOWN = 1_000     # injected errors listed on stderr without --errors-out


def _delimiter(value: str) -> str:
    value = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}.get(value, value)
    if len(value) != 1:
        raise click.BadParameter("one character, or tab / semicolon / comma / pipe")
    return value


@click.command("synth")
@click.option("--dataset", "-d", "dataset_code", help="Dataset code, see `marsad catalog list`.")
@click.option("--all", "all_datasets", is_flag=True, help="One file per dataset of the catalog, into a directory.")
@click.option("--rows", "-n", default=1000, show_default=True, type=click.IntRange(min=0), help="Data rows per file.")
@click.option("--year", "-y", type=YEAR, help="Year the events fall in.  [default: last year]")
@click.option("--seed", "-s", default=1, show_default=True, type=int,
              help="Same seed, same data; person ids are shared across datasets of one seed.")
@click.option("--error-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of rows given one deliberate, recorded error.")
@click.option("--error-kinds", help="Only these kinds, comma-separated: " + ", ".join(ERROR_KINDS) + ".")
@click.option("--messiness", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Share of cells written in another valid spelling (Arabic-Indic digits, labels instead "
                   "of codes, dd/mm/yyyy, stray spaces, capitals).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--encoding", type=click.Choice(ENCODINGS), default="utf-8", show_default=True,
              help="CSV only; cp1256 drops the accents Windows-1256 lacks.")
@click.option("--delimiter", default=",", show_default=True, callback=lambda c, p, v: _delimiter(v),
              help="CSV only: one character, or tab / semicolon.")
@click.option("--date-style", type=click.Choice(["iso", "dmy"]), default="iso", show_default=True,
              help="yyyy-mm-dd or dd/mm/yyyy.")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="File to write (with --all: a directory).  [default: DATASET.FORMAT, or ./synthetic]")
@click.option("--errors-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the injected errors here as CSV (row, field, kind; with --all a dataset column first).")
def synth(dataset_code, all_datasets, rows, year, seed, error_rate, error_kinds, messiness, fmt, encoding,
          delimiter, date_style, output, errors_out):
    """Write realistic, reproducible synthetic files for one dataset or all of them.

    Rows are numbered as in a spreadsheet: the header is row 1, the first data row is
    row 2. Injected errors are named as the ingestion report names them.
    """
    if bool(dataset_code) == all_datasets:
        raise click.UsageError("give --dataset D or --all")
    catalog = default_catalog()
    if dataset_code and dataset_code not in catalog.datasets:
        click.echo(f"unknown dataset {dataset_code!r}; known: {', '.join(sorted(catalog.datasets))}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    year = year if year is not None else default_year()
    kinds = [k.strip() for k in error_kinds.split(",") if k.strip()] if error_kinds else None
    if all_datasets:
        directory = output or Path("synthetic")
        directory.mkdir(parents=True, exist_ok=True)
        targets = [(code, directory / f"{code}.{fmt}") for code in sorted(catalog.datasets)]
    else:
        targets = [(dataset_code, output or Path(f"{dataset_code}.{fmt}"))]

    all_errors: list[tuple[str, int, str, str]] = []
    for code, path in targets:
        started = time.perf_counter()
        with _progress(code, rows) as progress:
            try:
                summary = write_file(path, code, rows=rows, year=year, seed=seed, error_rate=error_rate,
                                     messiness=messiness, fmt=fmt, encoding=encoding, delimiter=delimiter,
                                     date_style=date_style, catalog=catalog, progress=progress,
                                     error_kinds=kinds)
            except (ValueError, CatalogError) as err:
                raise click.ClickException(f"{code}: {err}") from None
        elapsed = time.perf_counter() - started
        click.echo(f"wrote {path}: {summary.rows:,} rows of {code} ({year}, seed {seed}), "
                   f"{len(summary.errors_injected):,} errors injected, "
                   f"{summary.rows / max(elapsed, 1e-9):,.0f} rows/s", err=True)
        all_errors.extend((code, row, field, kind) for row, field, kind in summary.errors_injected)

    if errors_out:
        write_errors(errors_out, all_errors, with_dataset=all_datasets)
        click.echo(f"wrote {errors_out}: {len(all_errors):,} injected errors", err=True)
    elif all_errors:
        for code, row, field, kind in all_errors[:ERRORS_SHOWN]:
            click.echo(f"{code}\trow {row}\t{field}\t{kind}", err=True)
        if len(all_errors) > ERRORS_SHOWN:
            click.echo(f"… and {len(all_errors) - ERRORS_SHOWN:,} more: use --errors-out FILE for the full list",
                       err=True)


def write_errors(path: Path, errors: list[tuple], with_dataset: bool) -> None:
    """The injected errors, (dataset, row, field, kind) each, as CSV; cells stay text (services.cells)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "row", "field", "kind"] if with_dataset else ["row", "field", "kind"])
        writer.writerows(csv_row(e if with_dataset else e[1:]) for e in errors)


class _progress:
    """A rich progress bar on a terminal for large files; nothing otherwise."""

    def __init__(self, code: str, rows: int):
        self.code, self.rows, self.bar = code, rows, None

    def __enter__(self):
        if self.rows <= PROGRESS_ABOVE or not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress("[bold]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task(self.code, total=self.rows)
        return lambda done: self.bar.update(task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


COMMANDS = [synth]
