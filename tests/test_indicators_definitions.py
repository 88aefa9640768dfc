"""Indicator definitions as data: every file complete in three languages and coherent with the catalog."""
from __future__ import annotations

import re

import pytest
import yaml

from services.catalog import default_catalog
from services.indicators.compute import cube
from services.indicators.definitions import (INDICATORS_DIR, IndicatorError, default_indicators, load_indicators,
                                             population_table)
from services.indicators.table import TOTAL

ARABIC = re.compile(r"[\u0600-\u06FF]")
REQUIRED = {"foreign_residents", "border_movements", "net_migration", "foreign_workers",
            "tunisians_abroad_registered", "placements_abroad", "returnees", "refugees_asylum_seekers",
            "sdg_10_7_4", "migrant_deaths_missing", "interceptions"}


def test_the_catalog_defines_the_indicators_the_observatory_needs():
    indicators = default_indicators()
    assert REQUIRED <= set(indicators)
    assert "SDG 10.7.3" in indicators["migrant_deaths_missing"].references
    assert "SDG 10.7.4" in indicators["sdg_10_7_4"].references
    for code, ind in indicators.items():
        for texts in (ind.names, ind.definition):
            assert set(texts) == {"ar", "fr", "en"} and ARABIC.search(texts["ar"]), code
        assert ind.references and ind.dimensions, code
        for d in ind.dimensions:
            assert set(ind.dimension_label(d.name)) >= {"ar", "fr", "en"}, (code, d.name)


def test_population_table_is_labelled_illustrative():
    data = yaml.safe_load((INDICATORS_DIR / "population.yaml").read_text(encoding="utf-8"))
    assert data["illustrative"] is True and "illustrative" in data["source"]["en"].lower()
    assert population_table()["TUN"][2024] > 10_000_000


BASE = """
code: {code}
names: {{ar: مؤشر, fr: Indicateur, en: Indicator}}
definition: {{ar: تعريف, fr: Définition, en: Definition}}
sources: [border_crossings]
references: [GCM Objective 1]
"""


@pytest.mark.parametrize("body,message", [
    ("measure: {count: rows}\nperiod: {date: event_date}\ndimensions: [{name: colour, field: hair_colour}]",
     "not a field"),
    ("measure: {count: rows}\nperiod: {date: event_date}\nfilters: [{field: sex, in: [Z]}]", "not codes of sex"),
    ("measure: {count: persons, person: person_id}\nperiod: {date: event_date}", "for stocks"),
    ("measure: {count: rows}\nperiod: {date: nationality}", "not a date"),
    ("measure: {count: rows}\nperiod: {date: event_date, frequency: [week]}", "frequency"),
    ("measure: {count: rows}\nperiod: {date: event_date}\ndimensions: [{name: year, field: sex}]", "snake_case"),
    ("measure: {method: guesswork}\nperiod: {date: event_date}", "unknown method"),
])
def test_incoherent_definitions_are_refused_with_the_file_named(tmp_path, body, message):
    (tmp_path / "broken.yaml").write_text(BASE.format(code="broken") + body, encoding="utf-8")
    with pytest.raises(IndicatorError, match=message) as err:
        load_indicators(tmp_path, default_catalog())
    assert "broken.yaml" in str(err.value)


def test_a_definition_in_one_language_only_is_refused(tmp_path):
    text = BASE.format(code="partial").replace("ar: مؤشر, ", "") + "measure: {count: rows}\nperiod: {date: event_date}"
    (tmp_path / "partial.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(IndicatorError, match="names needs a text in each"):
        load_indicators(tmp_path, default_catalog())


def test_cube_adds_every_margin_but_never_over_a_dimension_without_total():
    ind = default_indicators()["net_migration"]      # flow (no total), nationality, sex, age_group
    finest = {("IMMIGRATION", "FRA", "F", "Y20T24"): (2, 2), ("IMMIGRATION", "ITA", "M", "Y20T24"): (3, 3),
              ("NET", "FRA", "F", "Y20T24"): (2, 2), ("NET", "ITA", "M", "Y20T24"): (3, 3)}
    cells = cube(ind, finest)
    assert cells[(0b0001, ("IMMIGRATION", TOTAL, TOTAL, TOTAL))] == (5, 5)
    assert cells[(0b0101, ("NET", TOTAL, "F", TOTAL))] == (2, 2)
    assert not any(key[0] == TOTAL for _, key in cells)
    # per flow: 8 margins of each finest cell, of which the 2 totalling both nationality and sex coincide
    assert len(cells) == 2 * (2 * 8 - 2)
