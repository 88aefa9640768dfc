"""Exports of an IndicatorTable: CSV and XLSX for people, SDMX-CSV and SDMX-ML read back by sdmx1."""
from __future__ import annotations

import csv
import datetime as dt
import io
import math

import pytest
from openpyxl import load_workbook

from services.exports import (data_structure, describe, table_from_json, table_to_json, tables_from_json, to_csv,
                              to_sdmx_csv, to_xlsx)
from services.indicators.table import TOTAL, IndicatorTable

HIDDEN = 987_654   # a value left behind a flag: it must appear in no export

META = {
    "names": {"ar": "الوافدون حسب الجنسية والجنس", "fr": "Entrées par nationalité et sexe",
              "en": "Entries by nationality and sex"},
    "definition": {"ar": "عدد عمليات الدخول.", "fr": "Nombre de passages d'entrée.", "en": "Number of entry crossings."},
    "reference": "SDG 10.7.4",
    "sources": ["border_crossings"],
    "release": {"version": "2024.1", "date": "2025-03-31", "note": {"fr": "Données définitives", "en": "Final data"}},
}


@pytest.fixture
def table() -> IndicatorTable:
    cells = {
        ("2024-01", "TUN", "M"): 1200, ("2024-01", "TUN", "F"): 1100, ("2024-01", "TUN", TOTAL): 2300,
        ("2024-01", "DZA", "M"): 3, ("2024-01", "DZA", "F"): HIDDEN, ("2024-01", "DZA", TOTAL): 410,
        ("2024-01", TOTAL, TOTAL): 2710.0,
        ("2024-02", "LBY", "M"): 55.5, ("2024-02", "LBY", "F"): 0, ("2024-02", "LBY", TOTAL): 55.5,
        ("2024-02", "ZZX", "M"): 12,   # a code the catalog does not know (yet)
    }
    flags = {("2024-01", "DZA", "M"): "primary", ("2024-01", "DZA", "F"): "secondary"}
    cells[("2024-01", "DZA", "M")] = None
    return IndicatorTable("entries_by_nationality", ("period", "nationality", "sex"), cells, unit="crossings",
                          flags=flags, meta=META)


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


# --- metadata ---------------------------------------------------------------------------


def test_dimensions_find_their_catalog_codelists():
    d = describe({"code": "x", "dimensions": ["period", "nationality", "sex", "age_group", "border_post",
                                              "return_type", {"name": "origin", "codelist": "countries"}]})
    assert [dim.codelist.code if dim.codelist else None for dim in d.dimensions] == [
        None, "countries", "sex", "age_groups", "border_posts", "return_types", "countries"]
    assert d.dimensions[0].is_time
    assert d.dimension("nationality").label("fr") == "Nationalité"
    assert d.dimension("sex").code_label("F", "ar") == "أنثى"
    assert d.dimension("sex").code_label(TOTAL, "en") == "Total"
    assert d.dimension("period").code_label("2024-07", "ar") == "جويلية 2024"


# --- CSV -------------------------------------------------------------------------------


def test_csv_has_codes_labels_and_flags_never_hidden_values(table):
    rows = _csv_rows(to_csv(table, "fr"))
    assert rows[0] == ["Période (code)", "Période", "Nationalité (code)", "Nationalité", "Sexe (code)", "Sexe",
                       "Valeur", "Note"]
    by_key = {(r[0], r[2], r[4]): r for r in rows[1:]}
    assert len(by_key) == len(table.cells)
    assert by_key[("2024-01", "TUN", "F")][3:] == ["Tunisie", "F", "Féminin", "1100", ""]
    assert by_key[("2024-01", "DZA", "M")][6:] == ["", "confidentiel (effectif faible)"]
    assert by_key[("2024-01", "DZA", "F")][6:] == ["", "confidentiel (masquage secondaire)"]
    assert by_key[("2024-01", TOTAL, TOTAL)][3] == "Total" and by_key[("2024-01", TOTAL, TOTAL)][6] == "2710"
    assert by_key[("2024-02", "LBY", "M")][6] == "55.5"
    assert by_key[("2024-02", "ZZX", "M")][3] == "ZZX"          # unknown code: shown as itself
    assert str(HIDDEN) not in to_csv(table, "fr").decode("utf-8-sig")
    # publication order: periods, then the codelist's order, totals last
    assert [r[2] for r in rows[1:5]] == ["DZA", "DZA", "DZA", "TUN"]
    assert rows[7][2] == TOTAL


def test_csv_in_arabic(table):
    rows = _csv_rows(to_csv(table, "ar"))
    assert rows[0][:2] == ["الفترة (الرمز)", "الفترة"]
    tun = next(r for r in rows if r[2] == "TUN" and r[4] == "M")
    assert tun[3] == "تونس" and tun[5] == "ذكر"


def test_unknown_language_is_refused(table):
    with pytest.raises(ValueError, match="language"):
        to_csv(table, "de")


# --- XLSX ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ar", "fr", "en"])
def test_xlsx_data_and_metadata_sheets(table, lang):
    generated = dt.datetime(2025, 4, 1, 8, 30, tzinfo=dt.timezone.utc)
    book = load_workbook(io.BytesIO(to_xlsx(table, lang, generated_at=generated)))
    data, meta = book.worksheets
    assert data.sheet_view.rightToLeft is (lang == "ar")
    assert meta.sheet_view.rightToLeft is (lang == "ar")
    rows = list(data.iter_rows(values_only=True))
    by_key = {(r[0], r[2], r[4]): r for r in rows[1:]}
    assert by_key[("2024-01", "TUN", "M")][6] == 1200
    assert by_key[("2024-02", "LBY", "M")][6] == 55.5
    assert by_key[("2024-01", "DZA", "M")][6] is None and by_key[("2024-01", "DZA", "M")][7]
    assert by_key[("2024-01", "DZA", "F")][6] is None
    assert all(HIDDEN not in r for r in rows)
    info = dict(meta.iter_rows(values_only=True))
    values = list(info.values())
    assert META["names"][lang] in values
    assert META["definition"][lang] in values
    assert "SDG 10.7.4" in values
    assert {"ar": "عبور الحدود", "fr": "Passages aux frontières", "en": "Border crossings"}[lang] in values
    assert "2024.1" in values and "2025-03-31" in values
    assert META["release"]["note"].get(lang, "Final data") in values
    assert any("5" in v and len(v) > 60 for v in values)        # the disclosure note names the threshold
    assert "2025-04-01T08:30:00+00:00" in values
    assert {"ar": "عمليات عبور", "fr": "passages", "en": "crossings"}[lang] in values


# --- SDMX ------------------------------------------------------------------------------


@pytest.fixture
def structure_message(table):
    sdmx = pytest.importorskip("sdmx")
    return sdmx.read_sdmx(io.BytesIO(data_structure(table)))


def test_structure_message_reads_back_with_sdmx1(structure_message):
    msg = structure_message
    flow = msg.dataflow["ENTRIES_BY_NATIONALITY"]
    assert flow.maintainer.id == "TN_ONM" and flow.version == "1.0"
    assert flow.name.localizations == {"en": "Entries by nationality and sex", "fr": "Entrées par nationalité et sexe",
                                       "ar": "الوافدون حسب الجنسية والجنس"}
    dsd = msg.structure["DSD_ENTRIES_BY_NATIONALITY"]
    assert flow.structure is dsd
    assert [d.id for d in dsd.dimensions.components] == ["NATIONALITY", "SEX", "TIME_PERIOD"]
    assert type(dsd.dimensions.get("TIME_PERIOD")).__name__ == "TimeDimension"
    assert [m.id for m in dsd.measures.components] == ["OBS_VALUE"]
    assert {a.id for a in dsd.attributes.components} == {"OBS_STATUS", "CONF_STATUS", "UNIT_MEASURE"}
    sex = dsd.dimensions.get("SEX").local_representation.enumerated
    assert sex is msg.codelist["CL_SEX"]
    assert sex["F"].name.localizations == {"ar": "أنثى", "fr": "Féminin", "en": "Female"}
    assert sex[TOTAL].name.localizations["fr"] == "Total"
    countries = dsd.dimensions.get("NATIONALITY").local_representation.enumerated
    assert countries.id == "CL_COUNTRIES"
    assert countries["TUN"].name.localizations["ar"] == "تونس"
    assert len(countries) > 240 and "ZZX" in countries      # whole catalog codelist, plus the table's extra code
    conf = dsd.attributes.get("CONF_STATUS").local_representation.enumerated
    assert {c.id for c in conf} == {"F", "C", "D"}


def test_sdmx_csv_reads_back_and_matches_every_cell(table, structure_message):
    """sdmx1 reads SDMX-CSV 2.0 given the dataflow (from our structure message); every
    observation is compared with the table, and every code checked against its codelist."""
    import sdmx

    raw = to_sdmx_csv(table)
    header = raw.decode("utf-8").splitlines()[0].split(",")
    assert header[:3] == ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
    flow = structure_message.dataflow["ENTRIES_BY_NATIONALITY"]
    data = sdmx.read_sdmx(io.BytesIO(raw), format="csv", structure=flow)
    assert len(data.data) == 1
    dataset = data.data[0]
    assert dataset.action.name == "information"
    assert len(dataset.obs) == len(table.cells)
    dsd = flow.structure
    seen = set()
    for obs in dataset.obs:
        key_values = {kv.id: kv.value for kv in obs.dimension.values.values()}
        for dim_id, code in key_values.items():
            if dim_id != "TIME_PERIOD":
                assert code in dsd.dimensions.get(dim_id).local_representation.enumerated, (dim_id, code)
        key = (key_values["TIME_PERIOD"], key_values["NATIONALITY"], key_values["SEX"])
        seen.add(key)
        attrs = {k: v.value for k, v in obs.attached_attribute.items()}
        assert attrs["UNIT_MEASURE"] == "CROSSINGS"
        expected = table.cells[key]
        flag = table.flags.get(key)
        if flag:
            assert obs.value in ("", None)
            assert attrs["CONF_STATUS"] == {"primary": "C", "secondary": "D"}[flag]
            assert attrs["OBS_STATUS"] in ("", None)
        else:
            assert math.isclose(float(obs.value), expected)
            assert attrs["CONF_STATUS"] == "F" and attrs["OBS_STATUS"] == "A"
    assert seen == set(table.cells)
    assert str(HIDDEN) not in raw.decode("utf-8")


def test_sdmx_csv_header_and_ids(table):
    lines = to_sdmx_csv(table).decode("utf-8").splitlines()
    assert lines[0] == ("STRUCTURE,STRUCTURE_ID,ACTION,NATIONALITY,SEX,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,"
                        "OBS_STATUS,CONF_STATUS")
    assert lines[1].startswith("dataflow,TN_ONM:ENTRIES_BY_NATIONALITY(1.0),I,")
    assert "dataflow,TN_ONM:ENTRIES_BY_NATIONALITY(1.0),I,DZA,M,2024-01,,CROSSINGS,,C" in lines


def test_agency_is_configurable(table, monkeypatch):
    monkeypatch.setenv("MARSAD_SDMX_AGENCY", "JO_DOS")
    assert b"JO_DOS:ENTRIES_BY_NATIONALITY(1.0)" in to_sdmx_csv(table)
    assert b'agencyID="JO_DOS"' in data_structure(table)


def test_structure_of_a_definition_without_data():
    sdmx = pytest.importorskip("sdmx")
    definition = {"code": "returnees_by_governorate", "dimensions": ["period", "governorate", "sex"],
                  "unit": "persons", "names": {"en": "Returnees by governorate"}, "reference": "GCM 21"}
    msg = sdmx.read_sdmx(io.BytesIO(data_structure(definition)))
    dsd = msg.structure["DSD_RETURNEES_BY_GOVERNORATE"]
    gov = dsd.dimensions.get("GOVERNORATE").local_representation.enumerated
    assert "TN-11" in gov and gov["TN-11"].name.localizations["ar"] == "تونس" and TOTAL in gov
    assert [c.id for c in msg.codelist["CL_UNIT_MEASURE"]] == ["PERSONS"]


def test_total_period_is_left_out_of_sdmx_csv():
    t = IndicatorTable("x", ("period", "sex"), {("2024", "F"): 10, (TOTAL, "F"): 10})
    lines = to_sdmx_csv(t).decode().splitlines()
    assert len(lines) == 2 and ",F,2024,10," in lines[1]


# --- JSON ------------------------------------------------------------------------------


def test_json_round_trip_keeps_cells_flags_and_meta(table):
    back = table_from_json(table_to_json(table))
    assert back.cells == {k: (None if k in table.flags else v) for k, v in table.cells.items()}
    assert back.flags == table.flags and back.meta == table.meta and back.dimensions == table.dimensions
    assert HIDDEN not in back.cells.values()
    import json

    assert len(tables_from_json(json.dumps([table_to_json(table)] * 2))) == 2
    with pytest.raises(ValueError, match="not an indicator table"):
        tables_from_json('{"indicator": "x"}')


# --- what the indicators engine puts in meta -------------------------------------------


def test_codes_declared_by_the_indicator_and_unknown():
    """A parts dimension has its codes in meta["code_labels"]; "_U" (a blank field) is labelled."""
    sdmx = pytest.importorskip("sdmx")
    t = IndicatorTable("interceptions", ("year", "minors", "country"),
                       {("2024", "MINOR", "TUN"): 40, ("2024", "OTHER", "_U"): 12, ("2024", TOTAL, TOTAL): 52},
                       meta={"codelists": {"country": "countries"},
                             "dimension_labels": {"minors": {"ar": "القصّر", "fr": "Mineurs", "en": "Minors"}},
                             "code_labels": {"minors": {"MINOR": {"ar": "قصّر", "fr": "Mineurs", "en": "Minors"},
                                                        "OTHER": {"ar": "راشدون", "fr": "Adultes", "en": "Adults"}}}})
    d = describe(t)
    assert d.dimension("year").label("fr") == "Année"
    assert d.dimension("country").codelist.code == "countries"
    assert d.dimension("minors").code_label("OTHER", "fr") == "Adultes"
    assert d.dimension("country").code_label("_U", "ar") == "غير معروف"
    rows = _csv_rows(to_csv(t, "fr"))
    assert rows[0][2:4] == ["Mineurs (code)", "Mineurs"]
    assert ["2024", "2024", "OTHER", "Adultes", "_U", "Inconnu", "12", ""] in rows
    msg = sdmx.read_sdmx(io.BytesIO(data_structure(t)))
    minors = msg.codelist["CL_INTERCEPTIONS_MINORS"]
    assert [c.id for c in minors] == ["MINOR", "OTHER", "_U", TOTAL]
    assert minors["OTHER"].name.localizations["ar"] == "راشدون"
    assert msg.codelist["CL_COUNTRIES"]["_U"].name.localizations["en"] == "Unknown"


def test_json_leaves_out_the_counts_behind_rates(table):
    table.meta["observations"] = {("2024-01", "DZA", "M"): 3}
    assert "observations" not in table_to_json(table)["meta"]


def test_export_command_from_a_tables_file(table, tmp_path):
    import json

    from click.testing import CliRunner

    from services.cli import main

    source = tmp_path / "tables.json"
    source.write_text(json.dumps([table_to_json(table)]), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["export", "entries_by_nationality", "--format", "sdmx-csv", "--tables", str(source)])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"STRUCTURE,STRUCTURE_ID,ACTION,NATIONALITY,SEX,TIME_PERIOD")
    out = tmp_path / "x.xlsx"
    result = runner.invoke(main, ["export", "entries_by_nationality", "--format", "xlsx", "--lang", "ar",
                                  "--tables", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_workbook(out).worksheets[0].sheet_view.rightToLeft
    result = runner.invoke(main, ["export", "nothing_here", "--tables", str(source)])
    assert result.exit_code == 4


def test_a_stock_has_no_total_over_months():
    """Residents on the last day of each month do not add up over months: that total is left out."""
    cells = {("2024-01", "F"): 50, ("2024-02", "F"): 52, (TOTAL, "F"): 102}
    stock = IndicatorTable("foreign_residents", ("month", "sex"), cells, meta={"periods_add_up": False})
    assert [r[0] for r in _csv_rows(to_csv(stock, "en"))[1:]] == ["2024-01", "2024-02"]
    assert len(to_sdmx_csv(stock).decode().splitlines()) == 3
    flow = IndicatorTable("entries", ("month", "sex"), cells)
    assert len(_csv_rows(to_csv(flow, "en"))) == 4
