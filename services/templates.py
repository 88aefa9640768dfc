"""Blank submission templates compiled from the dataset catalog.

CSV is for partners whose systems export files; XLSX is for people filling a sheet by hand:
it carries drop-down lists of codes, bounds checked as they type and a sheet explaining
every field, in the partner's language.

Both start from field names, never labels, as column headings: names do not change with the
language or with a relabelling, and ingest accepts them first (services.catalog.Dataset.header_lookup).
"""
from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from services.catalog import Catalog, Dataset, default_catalog
from services.languages import LANGUAGES
from services.cells import csv_row, xlsx_text_only

DATA_SHEET = "data"
FIELDS_SHEET = "fields"
CODELISTS_SHEET = "codelists"
CODES_SHEET = "codes"  # hidden: the source ranges of the drop-down lists
LAST_ROW = 1_048_576  # Excel's last row: validation covers every row a partner may fill
DATE_FORMAT = "DD/MM/YYYY"  # as dates are written in Tunisia; ingest also reads ISO dates

# The few words the workbook needs beyond what the catalog holds.
WORDS = {
    "ar": {
        "field": "الحقل",
        "label": "التسمية",
        "type": "النوع",
        "required": "إجباري",
        "codelist": "قائمة الرموز",
        "min": "الحد الأدنى",
        "max": "الحد الأقصى",
        "max_length": "أقصى طول",
        "pattern": "الصيغة",
        "personal": "معطى شخصي",
        "aliases": "عناوين أخرى مقبولة",
        "code": "الرمز",
        "rules": "قواعد التثبت",
        "yes": "نعم",
        "no": "لا",
        "today": "اليوم",
        "string": "نص",
        "integer": "عدد صحيح",
        "decimal": "عدد",
        "date": "تاريخ (يوم/شهر/سنة أو سنة-شهر-يوم)",
        "code_type": "رمز من قائمة",
        "boolean": "نعم/لا",
        "list_error": "هذه القيمة ليست في القائمة. تقبل أيضا الرموز والتسميات بالعربية والفرنسية والإنجليزية.",
        "range_error": "القيمة خارج المجال المسموح به.",
        "length_error": "النص طويل جدا.",
        "unit": "كل سطر يمثل {unit}.",
        "age_rule": "يجب أن يتوافق «{age}» مع «{birth_date}» في «{reference}» (مع هامش {tolerance} سنة).",
        "exit_rule": "لكل «{person}»: لا يسبق الخروج الدخول («{date}»، «{direction}»).",
    },
    "fr": {
        "field": "Champ",
        "label": "Libellé",
        "type": "Type",
        "required": "Obligatoire",
        "codelist": "Liste de codes",
        "min": "Minimum",
        "max": "Maximum",
        "max_length": "Longueur maximale",
        "pattern": "Forme",
        "personal": "Donnée personnelle",
        "aliases": "Autres en-têtes acceptés",
        "code": "Code",
        "rules": "Règles de contrôle",
        "yes": "oui",
        "no": "non",
        "today": "aujourd'hui",
        "string": "texte",
        "integer": "nombre entier",
        "decimal": "nombre",
        "date": "date (jj/mm/aaaa ou aaaa-mm-jj)",
        "code_type": "code d'une liste",
        "boolean": "oui/non",
        "list_error": "Cette valeur n'est pas dans la liste. Les codes et les libellés en arabe, français et anglais sont aussi acceptés.",
        "range_error": "La valeur est hors de l'intervalle autorisé.",
        "length_error": "Le texte est trop long.",
        "unit": "Une ligne par {unit}.",
        "age_rule": "« {age} » doit correspondre à « {birth_date} » à la date « {reference} » (à {tolerance} an près).",
        "exit_rule": "Pour chaque « {person} », la sortie ne précède pas l'entrée (« {date} », « {direction} »).",
    },
    "en": {
        "field": "Field",
        "label": "Label",
        "type": "Type",
        "required": "Required",
        "codelist": "Codelist",
        "min": "Minimum",
        "max": "Maximum",
        "max_length": "Maximum length",
        "pattern": "Pattern",
        "personal": "Personal data",
        "aliases": "Other accepted headings",
        "code": "Code",
        "rules": "Validation rules",
        "yes": "yes",
        "no": "no",
        "today": "today",
        "string": "text",
        "integer": "whole number",
        "decimal": "number",
        "date": "date (dd/mm/yyyy or yyyy-mm-dd)",
        "code_type": "code from a list",
        "boolean": "yes/no",
        "list_error": "This value is not in the list. Codes and labels in Arabic, French and English are also accepted.",
        "range_error": "The value is outside the allowed range.",
        "length_error": "The text is too long.",
        "unit": "One row per {unit}.",
        "age_rule": '"{age}" must match "{birth_date}" on "{reference}" (within {tolerance} year).',
        "exit_rule": 'For each "{person}", an exit does not precede an entry ("{date}", "{direction}").',
    },
}
UNITS = {
    "event": {"ar": "حدثا", "fr": "événement", "en": "event"},
    "person": {"ar": "شخصا", "fr": "personne", "en": "person"},
    "permit": {"ar": "رخصة", "fr": "titre", "en": "permit"},
    "count": {"ar": "خانة من الأعداد المجمعة", "fr": "case de comptages agrégés", "en": "cell of aggregate counts"},
}
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def _resolve(dataset: Dataset | str, catalog: Catalog | None) -> tuple[Dataset, Catalog]:
    catalog = catalog or default_catalog()
    if isinstance(dataset, str):
        dataset = catalog.dataset(dataset)
    return dataset, catalog


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")


def csv_template(dataset: Dataset | str, lang: str = "en", catalog: Catalog | None = None) -> bytes:
    """The header row alone, UTF-8 with a byte-order mark so that Excel shows Arabic right.

    No example row: a template sent back with its example still in it would load a
    fictitious record. `lang` is accepted for symmetry with xlsx_template; headings are
    field names in every language.
    """
    _check_lang(lang)
    dataset, _ = _resolve(dataset, catalog)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(csv_row(dataset.field_names))
    return out.getvalue().encode("utf-8-sig")


def xlsx_template(dataset: Dataset | str, lang: str = "en", catalog: Catalog | None = None) -> bytes:
    """A workbook: "data" to fill, "fields" and "codelists" to read, "codes" hidden behind the lists."""
    _check_lang(lang)
    dataset, catalog = _resolve(dataset, catalog)
    workbook = Workbook()
    data = workbook.active
    data.title = DATA_SHEET
    fields_sheet = workbook.create_sheet(FIELDS_SHEET)
    codelists_sheet = workbook.create_sheet(CODELISTS_SHEET)
    codes_sheet = workbook.create_sheet(CODES_SHEET)
    codes_sheet.sheet_state = "hidden"

    used = list(dict.fromkeys(f.codelist for f in dataset.fields if f.type == "code"))
    ranges = _write_codes(codes_sheet, [catalog.codelists[c] for c in used], lang)
    _write_data(data, dataset, ranges, lang)
    _write_fields(fields_sheet, dataset, catalog, lang)
    _write_codelists(codelists_sheet, [catalog.codelists[c] for c in used], lang)

    for sheet in workbook.worksheets:
        sheet.sheet_view.rightToLeft = lang == "ar"
    workbook.active = 0
    workbook.properties.title = dataset.names.get(lang) or dataset.code
    workbook.properties.subject = dataset.code
    workbook.properties.creator = "Marsad"
    xlsx_text_only(workbook)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _write_codes(sheet, codelists, lang: str) -> dict[str, str]:
    """One column per codelist holding its labels in `lang`; returns codelist -> range formula.

    Labels, not codes, fill the lists: a clerk picks "Médenine", not "TN-82", and every
    label resolves to exactly one code (the loader refuses a spelling shared by two codes).
    """
    ranges = {}
    for col, codelist in enumerate(codelists, start=1):
        letter = get_column_letter(col)
        sheet.cell(row=1, column=col, value=codelist.code)
        for row, item in enumerate(codelist.items, start=2):
            sheet.cell(row=row, column=col, value=codelist.label(item["code"], lang))
        last = len(codelist.items) + 1
        ranges[codelist.code] = f"{quote_sheetname(CODES_SHEET)}!${letter}$2:${letter}${last}"
    return ranges


def _write_data(sheet, dataset: Dataset, ranges: dict[str, str], lang: str) -> None:
    words = WORDS[lang]
    for col, f in enumerate(dataset.fields, start=1):
        letter = get_column_letter(col)
        cell = sheet.cell(row=1, column=col, value=f.name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        label = f.labels.get(lang) or f.labels.get("en") or f.name
        note = f"{label}\n{_type_text(f, words)}" + (f"\n{words['required']}" if f.required else "")
        cell.comment = Comment(note, "Marsad")
        width = max(len(f.name), len(label)) + 2
        sheet.column_dimensions[letter].width = min(max(width, 12), 40)
        # Text columns stay text so identifiers keep leading zeros (CIN numbers, permit numbers).
        if f.type in ("string", "code"):
            sheet.column_dimensions[letter].number_format = "@"
        elif f.type == "date":
            sheet.column_dimensions[letter].number_format = DATE_FORMAT
        validation = _validation(f, ranges, words, label)
        if validation is not None:
            validation.add(f"{letter}2:{letter}{LAST_ROW}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"


def _validation(f, ranges: dict[str, str], words: dict, label: str) -> DataValidation | None:
    # Excel caps these texts: title 32 characters, prompt 255.
    hint = _type_text(f, words) + (f" ({words['required']})" if f.required else "")
    prompt = {"promptTitle": label[:32], "prompt": hint[:255], "showInputMessage": True}
    if f.type == "code":
        # A warning, not a stop: codes and labels in other languages are valid too.
        return DataValidation(type="list", formula1=ranges[f.codelist], allow_blank=True,
                              errorStyle="warning", error=words["list_error"], showErrorMessage=True, **prompt)
    if f.type in ("integer", "decimal", "date"):
        low, high = (_bound_formula(f.type, b) for b in (f.min, f.max))
        if low is None and high is None:
            if f.type == "date":
                return None
            low, high = "-1000000000", "1000000000"
        kind = {"integer": "whole", "decimal": "decimal", "date": "date"}[f.type]
        if low is not None and high is not None:
            operator, first, second = "between", low, high
        elif low is not None:
            operator, first, second = "greaterThanOrEqual", low, None
        else:
            operator, first, second = "lessThanOrEqual", high, None
        return DataValidation(type=kind, operator=operator, formula1=first, formula2=second, allow_blank=True,
                              errorStyle="stop", error=words["range_error"], showErrorMessage=True, **prompt)
    if f.type == "string" and f.max_length:
        return DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(f.max_length),
                              allow_blank=True, errorStyle="stop", error=words["length_error"],
                              showErrorMessage=True, **prompt)
    return None


def _bound_formula(field_type: str, bound) -> str | None:
    if bound is None:
        return None
    if field_type == "date":
        if bound == "today":
            return "TODAY()"
        day = bound if isinstance(bound, dt.date) else dt.date.fromisoformat(str(bound))
        return f"DATE({day.year},{day.month},{day.day})"
    return str(bound)


def _type_text(f, words: dict) -> str:
    return words["code_type" if f.type == "code" else f.type]


def _bound_text(bound, words: dict) -> str:
    if bound is None:
        return ""
    return words["today"] if bound == "today" else str(bound)


def _header(sheet, row: int, values: list[str]) -> None:
    for col, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=col, value=value)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL


def _write_fields(sheet, dataset: Dataset, catalog: Catalog, lang: str) -> None:
    words = WORDS[lang]
    sheet.cell(row=1, column=1, value=dataset.names.get(lang, dataset.code)).font = Font(bold=True, size=14)
    sheet.cell(row=2, column=1, value=dataset.description.get(lang, ""))
    sheet.cell(row=2, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=11)
    sheet.row_dimensions[2].height = 60
    unit = UNITS.get(dataset.unit, {}).get(lang, dataset.unit)
    sheet.cell(row=3, column=1, value=words["unit"].format(unit=unit))
    columns = ["field", "label", "type", "required", "codelist", "min", "max", "max_length", "pattern",
               "personal", "aliases"]
    top = 5
    _header(sheet, top, [words[c] for c in columns])
    for row, f in enumerate(dataset.fields, start=top + 1):
        codelist = catalog.codelists[f.codelist].names.get(lang, f.codelist) if f.codelist else ""
        values = [
            f.name, f.labels.get(lang, ""), _type_text(f, words),
            words["yes"] if f.required else words["no"], codelist,
            _bound_text(f.min, words), _bound_text(f.max, words),
            f.max_length or "", f.pattern or "",
            words["yes"] if f.identifies_person else words["no"], ", ".join(f.aliases),
        ]
        for col, value in enumerate(values, start=1):
            sheet.cell(row=row, column=col, value=value)
    rules = [rule_text(rule, dataset, catalog, lang) for rule in dataset.rules]
    if rules:
        row = top + len(dataset.fields) + 2
        sheet.cell(row=row, column=1, value=words["rules"]).font = HEADER_FONT
        for offset, text in enumerate(rules, start=1):
            sheet.cell(row=row + offset, column=1, value=text)
    for col, width in enumerate((26, 34, 22, 10, 26, 12, 12, 10, 18, 12, 40), start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = sheet.cell(row=top + 1, column=1)


def rule_text(rule, dataset: Dataset, catalog: Catalog, lang: str) -> str:
    """A rule in words, with the fields named by their labels in `lang`."""
    labels = {k: dataset.field(v).labels.get(lang, v) if v in dataset.field_names else v
              for k, v in rule.params.items()}
    if rule.kind == "date_order":
        return catalog.message("date_order", lang, before=labels["before"], after=labels["after"])
    if rule.kind == "not_greater":
        return catalog.message("not_greater", lang, part=labels["part"], whole=labels["whole"])
    if rule.kind == "age_matches_birth_date":
        return WORDS[lang]["age_rule"].format(
            age=labels["age"], birth_date=labels["birth_date"],
            reference=labels.get("reference", WORDS[lang]["today"]), tolerance=rule.params.get("tolerance", 1))
    if rule.kind == "exit_not_before_entry":
        return WORDS[lang]["exit_rule"].format(**labels)
    return rule.kind


def _write_codelists(sheet, codelists, lang: str) -> None:
    words = WORDS[lang]
    # The reader's language first, then the other two: any of them is accepted on upload.
    order = [lang, *(other for other in LANGUAGES if other != lang)]
    _header(sheet, 1, [words["codelist"], words["code"], *(f"{words['label']} ({code})" for code in order)])
    row = 2
    for codelist in codelists:
        name = codelist.names.get(lang, codelist.code)
        for item in codelist.items:
            values = [name, item["code"], *(item["labels"].get(code, "") for code in order)]
            for col, value in enumerate(values, start=1):
                sheet.cell(row=row, column=col, value=value)
            row += 1
    for col, width in enumerate((26, 14, 40, 40, 40), start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = "A2"
