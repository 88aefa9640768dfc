"""`marsad catalog`: read the dataset catalog and hand partners their submission templates."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from services.catalog import CatalogError, load_catalog
from services.languages import LANGUAGES
from services.cli import EXIT_NOT_FOUND, EXIT_PROBLEMS
from services.templates import csv_template, xlsx_template

_LANG = click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True,
                     help="Language of names and labels.")
_DIRECTORY = click.option("--catalog-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                          help="Read another catalog folder (for reviewing a change); default: the installed one.")


def _load(directory: Path | None):
    try:
        return load_catalog(directory)
    except CatalogError as err:
        click.echo(f"catalog error: {err}", err=True)
        sys.exit(EXIT_PROBLEMS)


def _dataset(catalog, code: str):
    try:
        return catalog.dataset(code)
    except CatalogError as err:
        click.echo(str(err), err=True)
        sys.exit(EXIT_NOT_FOUND)


@click.group("catalog")
def catalog() -> None:
    """Datasets partners submit, their codelists and templates."""


@catalog.command("list")
@_LANG
@_DIRECTORY
def list_datasets(lang: str, catalog_dir: Path | None) -> None:
    """List the datasets: code, unit and name."""
    cat = _load(catalog_dir)
    width = max((len(code) for code in cat.datasets), default=0)
    for code, dataset in sorted(cat.datasets.items()):
        click.echo(f"{code:<{width}}  {dataset.unit:<6}  {dataset.names.get(lang, code)}")


@catalog.command("show")
@click.argument("dataset")
@_LANG
@_DIRECTORY
def show(dataset: str, lang: str, catalog_dir: Path | None) -> None:
    """Describe DATASET: its fields, their types and constraints, and its rules."""
    cat = _load(catalog_dir)
    ds = _dataset(cat, dataset)
    click.echo(f"{ds.code}: {ds.names.get(lang, ds.code)}")
    if ds.description.get(lang):
        click.echo(ds.description[lang])
    click.echo(f"unit: {ds.unit}")
    click.echo("")
    width = max(len(f.name) for f in ds.fields)
    for f in ds.fields:
        marks = [f.type]
        if f.codelist:
            marks.append(f"codelist={f.codelist}")
        if f.min is not None or f.max is not None:
            marks.append(f"range={'' if f.min is None else f.min}..{'' if f.max is None else f.max}")
        if f.max_length:
            marks.append(f"max_length={f.max_length}")
        if f.pattern:
            marks.append(f"pattern={f.pattern}")
        if f.required:
            marks.append("required")
        if f.identifies_person:
            marks.append("personal")
        click.echo(f"  {f.name:<{width}}  {f.labels.get(lang, '')}  [{', '.join(marks)}]")
    if ds.rules:
        click.echo("")
        click.echo("rules:")
        for rule in ds.rules:
            params = ", ".join(f"{k}={v}" for k, v in rule.params.items())
            click.echo(f"  {rule.kind}: {params}")


@catalog.command("template")
@click.argument("dataset")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="xlsx", show_default=True)
@_LANG
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="File to write; '-' for standard output. Default: DATASET.FORMAT here.")
@_DIRECTORY
def template(dataset: str, fmt: str, lang: str, output: Path | None, catalog_dir: Path | None) -> None:
    """Write an empty submission template for DATASET."""
    cat = _load(catalog_dir)
    ds = _dataset(cat, dataset)
    build = csv_template if fmt == "csv" else xlsx_template
    data = build(ds, lang=lang, catalog=cat)
    target = str(output or f"{ds.code}.{fmt}")
    with click.open_file(target, "wb") as fh:  # "-" is standard output
        fh.write(data)
    if target != "-":
        click.echo(f"wrote {target}", err=True)


@catalog.command("check")
@_DIRECTORY
def check(catalog_dir: Path | None) -> None:
    """Load the catalog and report what it holds; exit 1 if it is not coherent."""
    cat = _load(catalog_dir)
    missing = [f"{kind} {code}: {lang}"
               for kind, things in (("dataset", cat.datasets), ("codelist", cat.codelists))
               for code, thing in things.items() for lang in LANGUAGES if not thing.names.get(lang)]
    for line in missing:
        click.echo(f"no name in {line}", err=True)
    click.echo(f"{len(cat.datasets)} datasets, {len(cat.codelists)} codelists, {len(cat.messages)} messages")
    if missing:
        sys.exit(EXIT_PROBLEMS)


COMMANDS = [catalog]
