"""The shape every indicator result takes: a table of cells over named dimensions.

Computation (services/indicators) produces it, disclosure control (services/disclosure.py)
marks suppressed cells in it, exports (services/exports) and the portal read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

TOTAL = "_T"  # the SDMX code for "all values of this dimension": margins use it


@dataclass
class IndicatorTable:
    indicator: str                         # indicator code (services/catalog/indicators/<code>.yaml)
    dimensions: tuple[str, ...]            # e.g. ("period", "nationality", "sex")
    cells: dict[tuple, float | int | None] # one key per cell: a value per dimension (TOTAL allowed)
    unit: str = "persons"
    flags: dict[tuple, str] = field(default_factory=dict)  # key -> "primary" | "secondary" when suppressed
    meta: dict = field(default_factory=dict)  # names/definitions ar-fr-en, references, release, source datasets

    def value(self, *key):
        return self.cells.get(tuple(key))

    def rows(self) -> list[tuple]:
        """(*key, value, flag) sorted by key, for exports and display."""
        return [(*key, value, self.flags.get(key)) for key, value in sorted(self.cells.items(), key=lambda kv: tuple(map(str, kv[0])))]
