"""Submission templates (CSV and XLSX) and the `marsad catalog` commands."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from click.testing import CliRunner

from services.catalog import default_catalog
from services.templates import csv_template, xlsx_template

DATASETS = sorted(default_catalog().datasets)


def open_workbook(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))


@pytest.mark.parametrize("code", DATASETS)
def test_csv_template_is_the_header_row_in_utf8_with_bom(code):
    data = csv_template(code, lang="ar")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [default_catalog().dataset(code).field_names]


def test_csv_template_accepts_a_dataset_object_and_refuses_unknown_languages():
    ds = default_catalog().dataset("interceptions")
    assert csv_template(ds) == csv_template("interceptions")
    with pytest.raises(ValueError):
        csv_template(ds, lang="de")


@pytest.mark.parametrize("code", DATASETS)
@pytest.mark.parametrize("lang", ["ar", "fr", "en"])
def test_xlsx_template_sheets_header_and_direction(code, lang):
    ds = default_catalog().dataset(code)
    wb = open_workbook(xlsx_template(code, lang=lang))
    assert wb.sheetnames[0] == "data"
    assert {"data", "fields", "codelists", "codes"} <= set(wb.sheetnames)
    data = wb["data"]
    header = [c.value for c in data[1]]
    assert header == ds.field_names
    assert all(c.font.bold for c in data[1])
    assert data.freeze_panes == "A2"
    assert data.max_row == 1  # nothing to delete before filling
    assert wb["codes"].sheet_state == "hidden"
    for name in wb.sheetnames:
        assert bool(wb[name].sheet_view.rightToLeft) is (lang == "ar")


@pytest.mark.parametrize("code", DATASETS)
def test_xlsx_code_columns_have_drop_downs_of_resolvable_labels(code):
    catalog = default_catalog()
    ds = catalog.dataset(code)
    wb = open_workbook(xlsx_template(code, lang="fr"))
    validations = wb["data"].data_validations.dataValidation
    lists = {str(v.sqref).split(":")[0]: v for v in validations if v.type == "list"}
    codes_sheet = wb["codes"]
    for col, f in enumerate(ds.fields, start=1):
        if f.type != "code":
            continue
        letter = openpyxl.utils.get_column_letter(col)
        validation = lists[f"{letter}2"]
        assert validation.formula1.startswith("'codes'!")
        source = validation.formula1.split("!")[1].replace("$", "")
        offered = [row[0].value for row in codes_sheet[source]]
        codelist = catalog.codelists[f.codelist]
        assert len(offered) == len(codelist.codes)
        assert [codelist.resolve(label) for label in offered] == codelist.codes


def test_xlsx_numbers_dates_and_text_lengths_are_checked_as_typed():
    wb = open_workbook(xlsx_template("interceptions"))
    by_column = {str(v.sqref).split(":")[0]: v for v in wb["data"].data_validations.dataValidation}
    ds = default_catalog().dataset("interceptions")
    persons = by_column[f"{openpyxl.utils.get_column_letter(ds.field_names.index('persons') + 1)}2"]
    assert persons.type == "whole" and persons.operator == "greaterThanOrEqual" and persons.formula1 == "0"
    month = by_column["A2"]
    assert month.type == "date" and month.formula1 == "DATE(2011,1,1)" and month.formula2 == "TODAY()"
    wb = open_workbook(xlsx_template("residence_permits"))
    first = wb["data"].data_validations.dataValidation[0]
    assert first.type == "textLength" and first.formula1 == "30"


def test_xlsx_fields_sheet_describes_every_field_in_the_language():
    ds = default_catalog().dataset("residence_permits")
    wb = open_workbook(xlsx_template(ds, lang="ar"))
    sheet = wb["fields"]
    assert sheet["A1"].value == ds.names["ar"]
    rows = {row[0]: row for row in sheet.iter_rows(values_only=True) if row[0] in ds.field_names}
    assert set(rows) == set(ds.field_names)
    assert rows["nationality"][1] == "الجنسية"
    assert rows["birth_date"][9] == "نعم"  # personal data
    assert rows["nationality"][3] == "نعم"  # required
    texts = [row[0] for row in sheet.iter_rows(values_only=True) if row[0]]
    assert any("تاريخ انتهاء الصلاحية" in t and "تاريخ الإسناد" in t for t in texts)  # the date_order rule


def test_xlsx_codelists_sheet_lists_codes_with_all_labels():
    wb = open_workbook(xlsx_template("returnees", lang="en"))
    rows = list(wb["codelists"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Codelist", "Code", "Label (en)")
    codes = {(row[0], row[1]) for row in rows[1:]}
    assert ("Types of return", "ASSISTED_VOLUNTARY") in codes
    assert ("Governorates", "TN-82") in codes
    tunisia = next(row for row in rows if row[1] == "TUN")
    assert tunisia[2:] == ("Tunisia", "تونس", "Tunisie")


# The command line. Importing services.cli registers every command group of the project.

@pytest.fixture
def catalog_group():
    from services.cli.catalog import catalog

    return catalog


def test_catalog_group_is_registered_on_marsad():
    from services.cli import main

    assert "catalog" in main.commands


def test_cli_list_names_datasets_in_the_language(catalog_group):
    result = CliRunner().invoke(catalog_group, ["list", "--lang", "fr"])
    assert result.exit_code == 0, result.output
    assert "residence_permits" in result.output
    assert "Titres de séjour des étrangers" in result.output


def test_cli_show_describes_fields_and_rules(catalog_group):
    result = CliRunner().invoke(catalog_group, ["show", "interceptions", "--lang", "ar"])
    assert result.exit_code == 0, result.output
    assert "period_month" in result.output and "codelist=governorates" in result.output
    assert "not_greater: part=minors, whole=persons" in result.output


def test_cli_unknown_dataset_exits_not_found(catalog_group):
    from services.cli import EXIT_NOT_FOUND

    result = CliRunner().invoke(catalog_group, ["show", "no_such_dataset"])
    assert result.exit_code == EXIT_NOT_FOUND
    result = CliRunner().invoke(catalog_group, ["template", "no_such_dataset"])
    assert result.exit_code == EXIT_NOT_FOUND


def test_cli_template_writes_csv_and_xlsx(catalog_group, tmp_path):
    runner = CliRunner()
    target = tmp_path / "rp.csv"
    result = runner.invoke(catalog_group, ["template", "residence_permits", "--format", "csv", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == csv_template("residence_permits")
    target = tmp_path / "rp.xlsx"
    result = runner.invoke(catalog_group, ["template", "residence_permits", "--format", "xlsx",
                                           "--lang", "ar", "-o", str(target)])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(target)
    assert wb["data"].sheet_view.rightToLeft


def test_cli_template_to_standard_output(catalog_group):
    result = CliRunner().invoke(catalog_group, ["template", "returnees", "--format", "csv", "-o", "-"])
    assert result.exit_code == 0
    assert result.stdout_bytes == csv_template("returnees")


def test_cli_check_reports_the_catalog(catalog_group):
    result = CliRunner().invoke(catalog_group, ["check"])
    assert result.exit_code == 0, result.output
    assert "datasets" in result.output
