"""The statistical yearbook: indicator tables as a report in HTML and PDF, in ar, fr or en.

Built from a list of IndicatorTables, whoever computed them, so that it can be produced
from `marsad report --tables FILE.json` as well as from the database. The tables are
printed as given: disclosure control must already have been applied (the CLI applies it).
For each indicator: its definition, a cross-table with localised numbers and suppressed
cells marked, a chart, its sources and notes. Then the methodology: disclosure control,
the twelve-month rule, symbols, the source datasets.

The PDF is rendered by WeasyPrint (pango/harfbuzz shape Arabic); the fonts it needs are
Debian's fonts-noto-core (Noto Naskh Arabic, Noto Sans), with DejaVu as a fallback.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.catalog import Catalog, default_catalog
from services.exports.metadata import (LOCALES, Description, check_lang, describe, localised,
                                       message as export_message, published, shown_value)
from services.indicators.table import IndicatorTable

from . import layout

HERE = Path(__file__).parent


@lru_cache(maxsize=1)
def _messages() -> dict:
    with (HERE / "messages.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def message(key: str, lang: str, **params) -> str:
    texts = _messages().get(key) or {}
    text = texts.get(lang) or texts.get("en") or key
    return text.format(**params) if params else text


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


@dataclass
class Section:
    number: int
    code: str
    anchor: str
    name: str
    definition: str
    unit: str
    reference: str
    release: str
    sources: str
    notes: str
    disclosure: str
    suppressed: bool
    layout: layout.Layout
    chart: str | None
    chart_note: str


def _date(value, lang: str) -> str:
    """An ISO date as readers of `lang` write it ("31 mars 2025"); anything else as given."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.date):
        return format_date(value, "long", locale=LOCALES[lang])
    return "" if value is None else str(value)


def _section(number: int, table: IndicatorTable, description: Description, lang: str,
             institutions: Mapping[str, Sequence[Mapping[str, str]]], breakdown: bool) -> Section:
    """`breakdown`: name the table's dimensions in its heading (an indicator printed as
    several tables: by month, by nationality...)."""
    marker = message("confidential_marker", lang)

    def fixed(dimension: str, value: str) -> str:
        return message("fixed", lang, dimension=dimension, value=value)

    grid = layout.tabulate(table, description, lang, marker, fixed)
    chart, chart_note = layout.chart(table, description, lang, marker, lambda n: message("top_n", lang, n=n))
    release = description.release
    release_text = ""
    if release.get("version") or release.get("date"):
        release_text = message("release_line", lang, version=release.get("version") or "",
                               date=_date(release.get("date"), lang))
        if description.release_note(lang):
            release_text += f" — {description.release_note(lang)}"
    sources = []
    for code in description.sources:
        names = [localised(n, lang) for n in institutions.get(code, ())]
        sources.append(description.source_label(code, lang) + (f" ({', '.join(names)})" if names else ""))
    return Section(
        number=number, code=description.code, anchor=f"indicator-{number}",
        name=description.name(lang) + (f" — {' × '.join(d.label(lang) for d in description.dimensions)}"
                                       if breakdown and description.dimensions else ""),
        definition=localised(description.definition, lang), unit=description.unit_label(lang),
        reference="; ".join(description.references), release=release_text, sources="; ".join(sources),
        notes=localised(description.notes, lang), disclosure=description.disclosure_text(lang),
        suppressed=any(shown_value(table, key) is None for key in table.cells),
        layout=grid, chart=chart, chart_note=chart_note,
    )


def build_html(tables: Sequence[IndicatorTable], year: int, lang: str = "en", *,
               publisher: Mapping[str, str] | str | None = None,
               institutions: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
               generated_at: dt.datetime | None = None, catalog: Catalog | None = None) -> str:
    """The yearbook as one self-contained HTML page (styles and charts inline, no scripts).

    `publisher`: the observatory's name ({ar, fr, en}); `institutions`: for each source
    dataset, the names of the institutions that submit it, printed beside the source.
    """
    check_lang(lang)
    if not tables:
        raise ValueError("no indicator table to publish")
    catalog = catalog or default_catalog()
    institutions = institutions or {}
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    descriptions = [describe(t, catalog) for t in tables]
    tables = [published(t, d) for t, d in zip(tables, descriptions)]
    repeated = {code for code in (t.indicator for t in tables) if sum(t.indicator == code for t in tables) > 1}
    sections = [_section(i, t, d, lang, institutions, t.indicator in repeated)
                for i, (t, d) in enumerate(zip(tables, descriptions), start=1)]
    dataset_codes = list(dict.fromkeys(code for d in descriptions for code in d.sources))
    datasets = []
    for code in dataset_codes:
        ds = catalog.datasets.get(code)
        datasets.append({
            "name": localised(ds.names, lang, code) if ds else code,
            "description": localised(ds.description, lang) if ds else "",
            "institutions": ", ".join(localised(n, lang) for n in institutions.get(code, ())),
        })
    threshold = max(d.threshold for d in descriptions)
    return _environment().get_template("yearbook.html").render(
        lang=lang, dir="rtl" if lang == "ar" else "ltr",
        title=message("title", lang, year=year),
        publisher=localised(publisher, lang) if publisher else "",
        produced=message("produced", lang, date=_date(generated_at.date(), lang)),
        sections=sections, datasets=datasets, marker=message("confidential_marker", lang),
        disclosure=export_message("disclosure_note", lang, threshold=threshold),
        t=lambda key, **params: message(key, lang, **params),
        x=lambda key, **params: export_message(key, lang, **params),
    )


def build_pdf(html: str) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError) as err:   # OSError: the package is there but pango is not
        raise RuntimeError(f"PDF needs WeasyPrint and Debian's pango (libpango-1.0-0, libpangoft2-1.0-0): {err}") \
            from None
    return weasyprint.HTML(string=html, base_url=str(HERE)).write_pdf()


def write(tables: Sequence[IndicatorTable], year: int, lang: str, out_dir: Path | str, *,
          pdf: bool = True, **kwargs) -> list[Path]:
    """Write marsad-yearbook-YEAR-LANG.html (and .pdf) into `out_dir`; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = build_html(tables, year, lang, **kwargs)
    stem = out_dir / f"marsad-yearbook-{year}-{lang}"
    paths = [stem.with_suffix(".html")]
    paths[0].write_text(html, encoding="utf-8")
    if pdf:
        paths.append(stem.with_suffix(".pdf"))
        paths[1].write_bytes(build_pdf(html))
    return paths
