"""The yearbook: HTML with every table, right to left in Arabic, and a PDF that is one."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess

import pytest

from services.indicators.table import TOTAL, IndicatorTable

YEAR = 2024
MONTHLY_SHAPE = (4.8, 4.6, 6.0, 7.0, 7.4, 9.0, 14.5, 15.5, 8.5, 7.2, 5.2, 7.0)


def sample_tables(year: int = YEAR) -> list[IndicatorTable]:
    """Three protected tables of the shapes indicators take: monthly x sex, nationality x sex,
    a single categorical dimension; a few cells suppressed (value None and a flag)."""
    monthly = {}
    for m, weight in enumerate(MONTHLY_SHAPE, start=1):
        women = int(weight * 4100)
        men = int(weight * 5300)
        monthly[(f"{year}-{m:02d}", "F")] = women
        monthly[(f"{year}-{m:02d}", "M")] = men
        monthly[(f"{year}-{m:02d}", "X")] = 3 if m == 2 else 40 + m
        monthly[(f"{year}-{m:02d}", TOTAL)] = women + men + monthly[(f"{year}-{m:02d}", "X")]
    flags = {(f"{year}-02", "X"): "primary", (f"{year}-03", "X"): "secondary"}
    for key in flags:
        monthly[key] = None
    entries = IndicatorTable(
        indicator="entries_by_month", dimensions=("period", "sex"), cells=monthly, unit="crossings", flags=flags,
        meta={
            "names": {"ar": "الدخول إلى التراب التونسي حسب الشهر والجنس",
                      "fr": "Entrées sur le territoire par mois et par sexe",
                      "en": "Entries into the territory by month and sex"},
            "definition": {"ar": "عدد عمليات الدخول عبر النقاط الحدودية المسجلة خلال الشهر.",
                           "fr": "Nombre de passages d'entrée enregistrés aux postes frontaliers au cours du mois.",
                           "en": "Number of entry crossings recorded at border posts during the month."},
            "reference": "GCM objective 1", "sources": ["border_crossings"],
            "release": {"version": f"{year}.1", "date": f"{year + 1}-03-31",
                        "note": {"ar": "بيانات نهائية", "fr": "Données définitives", "en": "Final data"}},
        })
    nationalities = ["DZA", "LBY", "FRA", "DEU", "ITA", "MAR", "CIV", "SEN", "CMR", "GBR", "BEL", "CHN",
                     "TUR", "EGY", "MLI", "GIN", "CAN", "USA", "ESP", "NLD", "SYR", "SDN"]
    by_nat, nat_flags = {}, {}
    for rank, code in enumerate(nationalities):
        f, m = int(90000 / (rank + 1) ** 1.2), int(120000 / (rank + 1) ** 1.2)
        by_nat[(str(year), code, "F")], by_nat[(str(year), code, "M")] = f, m
        by_nat[(str(year), code, TOTAL)] = f + m
    by_nat[(str(year), "SDN", "F")], nat_flags[(str(year), "SDN", "F")] = None, "primary"
    by_nat[(str(year), "SDN", "M")], nat_flags[(str(year), "SDN", "M")] = None, "secondary"
    for sex in ("F", "M", TOTAL):
        by_nat[(str(year), TOTAL, sex)] = sum(v or 0 for k, v in by_nat.items() if k[2] == sex and k[1] != TOTAL) + 7
    nationality = IndicatorTable(
        indicator="entries_by_nationality", dimensions=("period", "nationality", "sex"), cells=by_nat,
        flags=nat_flags, unit="persons",
        meta={"names": {"ar": "الوافدون الأجانب حسب الجنسية والجنس", "fr": "Non-résidents entrés par nationalité et sexe",
                        "en": "Foreign arrivals by nationality and sex"},
              "definition": {"ar": "عدد الأشخاص الأجانب الذين دخلوا مرة واحدة على الأقل خلال السنة.",
                             "fr": "Nombre de personnes étrangères entrées au moins une fois dans l'année.",
                             "en": "Number of foreign persons who entered at least once during the year."},
              "reference": ["SDG 10.7", "GCM objective 1"], "sources": ["border_crossings"]})
    returns = {(str(year), t): v for t, v in [("VOLUNTARY", 1830), ("ASSISTED_VOLUNTARY", 912), ("FORCED", 2411),
                                              ("READMISSION", 640), ("REFUSED_ENTRY", 388), ("EVACUATION", 4),
                                              ("OTHER", 57)]}
    returns[(str(year), "EVACUATION")] = None
    returns[(str(year), TOTAL)] = 6246
    returnees = IndicatorTable(
        indicator="returnees_by_type", dimensions=("period", "return_type"), cells=returns,
        flags={(str(year), "EVACUATION"): "primary"}, unit="persons",
        meta={"names": {"ar": "التونسيون العائدون حسب صنف العودة", "fr": "Tunisiens de retour par type de retour",
                        "en": "Returning Tunisians by type of return"},
              "definition": {"ar": "عدد حالات عودة التونسيين من الخارج المسجلة لدى الشركاء.",
                             "fr": "Nombre de retours de Tunisiens de l'étranger enregistrés par les partenaires.",
                             "en": "Number of returns of Tunisians from abroad recorded by partners."},
              "reference": "GCM objective 21", "sources": ["returnees"],
              "notes": {"ar": "العودة الطوعية بمساعدة تشمل برامج إعادة الإدماج.",
                        "fr": "Le retour volontaire assisté comprend les programmes de réintégration.",
                        "en": "Assisted voluntary return includes reintegration programmes."}})
    return [entries, nationality, returnees]


@pytest.fixture(scope="module")
def tables():
    return sample_tables()


GENERATED = dt.datetime(2025, 4, 1, 9, 0, tzinfo=dt.timezone.utc)


def test_html_has_every_table_localised_and_marks_suppressed_cells(tables):
    from services.yearbook import build_html

    html = build_html(tables, YEAR, "fr", generated_at=GENERATED)
    assert '<html lang="fr" dir="ltr">' in html
    assert "Annuaire statistique de la migration 2024" in html
    for name in ("Entrées sur le territoire par mois et par sexe", "Non-résidents entrés par nationalité et sexe",
                 "Tunisiens de retour par type de retour"):
        assert html.count(name) >= 3          # table of contents, heading, table caption
    assert html.count('<table class="data"') == 3
    assert "juillet 2024" in html             # month labels from the locale
    assert "Algérie" in html and "Retour forcé (expulsion)" in html
    # French grouping: a narrow no-break space between thousands (59 450 women in August)
    assert "63\u202f550" in html
    # the confidential cells are marked, never shown
    assert html.count('class="suppressed">c<') == 5
    assert "<svg" in html and "line-chart" in html and "bar-chart" in html
    assert "règle des douze mois" in html


def test_html_arabic_is_right_to_left(tables):
    from services.yearbook import build_html

    html = build_html(tables, YEAR, "ar", generated_at=GENERATED, publisher={"ar": "المرصد الوطني للهجرة"})
    assert '<html lang="ar" dir="rtl">' in html
    assert "الكتاب الإحصائي السنوي للهجرة 2024" in html
    assert "المرصد الوطني للهجرة" in html
    assert "جويلية 2024" in html               # Tunisian month name
    assert "الجزائر" in html
    assert "63.550" in html                     # ar_TN groups with a dot
    assert html.count('class="suppressed">س<') == 5


def test_hidden_values_never_reach_the_yearbook(tables):
    """Even a table that still holds a value behind a flag prints only the mark."""
    from services.yearbook import build_html

    leaky = IndicatorTable("leaky", ("sex",), {("F",): 987654, ("M",): 3}, flags={("F",): "secondary"})
    html = build_html([leaky], YEAR, "en", generated_at=GENERATED)
    assert "987" not in html


@pytest.fixture(scope="module")
def pdfs(tables, tmp_path_factory):
    pytest.importorskip("weasyprint")
    from services.yearbook import write

    out = tmp_path_factory.mktemp("yearbook")
    return {lang: write(tables, YEAR, lang, out, generated_at=GENERATED)[1] for lang in ("ar", "fr")}


def _pages(path) -> int:
    """Pages as poppler reads them (a second, independent PDF reader) when it is installed,
    else as WeasyPrint laid them out (its PDF packs page objects in compressed streams)."""
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"Pages:\s+(\d+)", info)[1])
    from services.yearbook import build_html
    import weasyprint

    lang = path.stem.rsplit("-", 1)[1]
    return len(weasyprint.HTML(string=build_html(sample_tables(), YEAR, lang, generated_at=GENERATED)).render().pages)


def test_pdf_is_a_pdf_with_a_page_per_section(pdfs):
    for lang, path in pdfs.items():
        data = path.read_bytes()
        assert data.startswith(b"%PDF-")
        assert data.rstrip().endswith(b"%%EOF")
        # title, contents, one page or more per indicator, methodology
        assert 6 <= _pages(path) <= 10, lang


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_pdf_text_extracts_in_arabic(pdfs):
    text = subprocess.run(["pdftotext", str(pdfs["ar"]), "-"], capture_output=True, text=True, check=True).stdout
    # Shaped Arabic extracts as the words it was written with
    for word in ("الهجرة", "الجزائر", "المنهجية"):
        assert word in text, word


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_pdf_text_french(pdfs):
    text = subprocess.run(["pdftotext", str(pdfs["fr"]), "-"], capture_output=True, text=True, check=True).stdout
    assert "Annuaire statistique de la migration" in text
    assert "Sommaire" in text and "Méthodologie et sources" in text


def test_report_command_from_tables_json(tables, tmp_path, monkeypatch):
    pytest.importorskip("weasyprint")
    from click.testing import CliRunner

    from services.cli import main
    from services.exports import table_to_json

    source = tmp_path / "tables.json"
    source.write_text(json.dumps([table_to_json(t) for t in tables], ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["report", "--year", str(YEAR), "--lang", "en", "--out", str(tmp_path / "out"),
                                       "--tables", str(source)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / f"marsad-yearbook-{YEAR}-en.html").read_text(encoding="utf-8")
    assert "Statistical Yearbook of Migration 2024" in html
    assert "National Observatory of Migration" in html      # the observatory named in policies/
    assert (tmp_path / "out" / f"marsad-yearbook-{YEAR}-en.pdf").read_bytes().startswith(b"%PDF")


def test_report_command_rejects_a_bad_tables_file(tmp_path):
    from click.testing import CliRunner

    from services.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text('[{"indicator": "x"}]', encoding="utf-8")
    result = CliRunner().invoke(main, ["report", "--year", "2024", "--tables", str(bad), "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "not an indicator table" in result.output


def test_an_indicator_in_several_tables_names_each_breakdown():
    from services.yearbook import build_html

    by_sex = IndicatorTable("returnees", ("sex",), {("F",): 120, ("M",): 300, (TOTAL,): 420},
                            meta={"names": {"en": "Returnees"}})
    by_type = IndicatorTable("returnees", ("return_type",), {("FORCED",): 220, ("VOLUNTARY",): 200, (TOTAL,): 420},
                             meta={"names": {"en": "Returnees"}})
    html = build_html([by_sex, by_type], YEAR, "en", generated_at=GENERATED)
    assert "1. Returnees — Sex" in html and "2. Returnees — Type of return" in html


def test_report_from_the_engine_protects_every_table(monkeypatch, tmp_path):
    """The database path: each indicator's breakdowns queried, disclosure control applied
    (services.disclosure), then printed. The engine is stood in for; its own tests cover it."""
    from types import SimpleNamespace

    from click.testing import CliRunner

    import services.cli.report as report
    from services.cli import main

    def dim(name, codelist):
        return SimpleNamespace(name=name, codelist=codelist, codes={})

    indicator = SimpleNamespace(dimensions=(dim("direction", "direction"), dim("sex", "sex")),
                                frequency=("year", "month"))
    assert report.breakdowns(indicator) == [("month", "direction"), ("sex", "direction")]
    residents = SimpleNamespace(dimensions=(dim("nationality", "countries"), dim("sex", "sex"),
                                            dim("governorate", "governorates")), frequency=("year",))
    assert report.breakdowns(residents) == [("nationality", "sex"), ("governorate", "sex")]
    assert report.breakdowns(SimpleNamespace(dimensions=(dim("sex", "sex"),), frequency=("year",))) == [("sex",)]

    asked = []

    def fake_table(code, year, by, live):
        asked.append((code, year, by, live))
        if by == ("month", "direction"):
            cells = {(f"{year}-{m:02d}", d): 1000 + m for m in range(1, 13) for d in ("ENTRY", "EXIT")}
        else:
            cells = {("F", "ENTRY"): 2, ("F", "EXIT"): 900, ("M", "ENTRY"): 700, ("M", "EXIT"): 800}
        return IndicatorTable(code, by, cells, meta={"names": {"en": "Border movements"},
                                                     "sources": ["border_crossings"]})

    engine = SimpleNamespace(default_indicators=lambda: {"border_movements": indicator}, ReleaseError=LookupError)
    monkeypatch.setattr(report, "_engine", lambda: engine)
    monkeypatch.setattr(report, "indicator_table", fake_table)
    result = CliRunner().invoke(main, ["report", "--year", str(YEAR), "--lang", "en", "--no-pdf",
                                       "--out", str(tmp_path), "--live"])
    assert result.exit_code == 0, result.output
    assert asked == [("border_movements", YEAR, ("month", "direction"), True),
                     ("border_movements", YEAR, ("sex", "direction"), True)]
    html = (tmp_path / f"marsad-yearbook-{YEAR}-en.html").read_text(encoding="utf-8")
    assert "Border movements — Month × Direction" in html
    assert html.count('<table class="data"') == 2
    # the 2 women entering is a primary suppression; margins were added by protect()
    assert 'class="suppressed">c<' in html and ">2<" not in html
    assert "Source: Border crossings (Border Police, National Guard)" in html   # submitters, from policies/


def test_a_stock_prints_no_total_over_months():
    from services.yearbook import build_html

    cells = {(f"{YEAR}-{m:02d}", s): 100 * m + (s == "F") for m in range(1, 13) for s in ("F", "M")}
    cells.update({(TOTAL, s): sum(v for k, v in cells.items() if k[1] == s) for s in ("F", "M")})
    stock = IndicatorTable("foreign_residents", ("month", "sex"), cells, meta={"periods_add_up": False})
    html = build_html([stock], YEAR, "en", generated_at=GENERATED)
    assert "7,806" not in html and "7,800" not in html     # the sums over months
    assert 'class="total"' not in html
