"""The dataset catalog as partners read it: datasets, their fields and rules, codelists, blank templates."""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template

from services.policy import Resource
from services.templates import csv_template, xlsx_template
# The same wording of a validation rule as in the workbook's "fields" sheet (private there for now).
from services.templates import rule_text as rule_in_words

from portal.access import require
from portal.i18n import current_language
from portal.runtime import runtime

bp = Blueprint("catalog", __name__, url_prefix="/catalog")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def catalog_resource(code: str | None = None) -> Resource:
    return Resource("catalog", dataset=code)


def dataset_resource(code: str) -> Resource:
    if code not in runtime().catalog.datasets:
        abort(404)
    return catalog_resource(code)


@bp.route("")
@require("catalog.read", lambda: catalog_resource())
def index():
    return render_template("catalog/index.html", datasets=list(runtime().catalog.datasets.values()),
                           codelists=list(runtime().catalog.codelists.values()))


@bp.route("/datasets/<code>")
@require("catalog.read", dataset_resource)
def dataset(code: str):
    catalog = runtime().catalog
    definition = catalog.dataset(code)
    lang = current_language()
    rules = [rule_in_words(rule, definition, catalog, lang) for rule in definition.rules]
    return render_template("catalog/dataset.html", dataset=definition, codelists=catalog.codelists, rules=rules)


@bp.route("/codelists/<code>")
@require("catalog.read", lambda code: catalog_resource())
def codelist(code: str):
    found = runtime().catalog.codelists.get(code)
    if found is None:
        abort(404)
    return render_template("catalog/codelist.html", codelist=found)


@bp.route("/datasets/<code>/template.csv")
@require("catalog.read", dataset_resource)
def template_csv(code: str):
    body = csv_template(code, current_language(), catalog=runtime().catalog)
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{code}-template.csv"'})


@bp.route("/datasets/<code>/template.xlsx")
@require("catalog.read", dataset_resource)
def template_xlsx(code: str):
    lang = current_language()
    body = xlsx_template(code, lang, catalog=runtime().catalog)
    return Response(body, mimetype=XLSX_MIMETYPE,
                    headers={"Content-Disposition": f'attachment; filename="{code}-template-{lang}.xlsx"'})
