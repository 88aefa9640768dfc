"""The parameters of the API as the OpenAPI document declares them and as the views enforce them:
the route table (routes.py) lists them per route; the views check a body's fields with the same ones."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from portal.api.errors import ApiError

INT32 = 2 ** 31 - 1   # ids, versions and pages are 32-bit columns on PostgreSQL


@dataclass(frozen=True)
class Param:
    """One parameter, as the document declares it and as `value` enforces it: the same fields serve both."""
    name: str
    where: str                      # "path" | "query"
    type: str = "string"            # JSON Schema type: "string", "integer" or "array"
    description: str = ""
    enum: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()   # a callable: read when asked
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    items: "Param | None" = None    # an array's items (its name is the array's)
    max_items: int | Callable[[], int] | None = None   # a callable: a setting read when asked
    explode: bool = True            # an array as ?x=1&x=2 (True) or ?x=1,2 (False)
    bound: str = ""                 # the setting behind max_items, named when it is passed...
    bound_code: str = "too_many_values"   # ...and the error code then

    def schema(self) -> dict:
        if self.type == "array":
            out = {"type": "array", "items": self.items.schema(), "uniqueItems": True}
            if self.max_items is not None:
                out["maxItems"] = self.max_items() if callable(self.max_items) else self.max_items
            return out
        out: dict = {"type": self.type}
        if self.type == "integer" and self.maximum == INT32:
            out["format"] = "int32"
        for key, value in (("minimum", self.minimum), ("maximum", self.maximum), ("pattern", self.pattern)):
            if value is not None:
                out[key] = value
        if self.enum:
            out["enum"] = list(self.choices)
        return out

    @property
    def choices(self) -> tuple[str, ...]:
        return self.enum() if callable(self.enum) else self.enum

    def spec(self) -> dict:
        out = {"name": self.name, "in": self.where, "required": self.required or self.where == "path",
               "description": self.description or self.name, "schema": self.schema()}
        if self.type == "array":
            out.update(style="form", explode=self.explode)
        return out

    def value(self, raw: list[str]):
        """The typed value of the parameter's raw strings (several when repeated); ApiError 400 if not valid."""
        if self.type == "array":
            parts = raw if self.explode else [p for text in raw[-1:] for p in (text.split(",") if text else [])]
            values = [self.items.one(p, self.name) for p in parts]
            limit = self.max_items() if callable(self.max_items) else self.max_items
            if limit is not None and len(values) > limit:
                setting = f" ({self.bound})" if self.bound else ""
                raise ApiError(400, f"{self.name}: at most {limit} values{setting}, not {len(values)}",
                               code=self.bound_code)
            if len(set(values)) != len(values):
                raise ApiError(400, f"{self.name}: a value appears twice")
            return values
        return self.one(raw[0], self.name)

    def one(self, text: str, name: str):
        if self.type == "integer":
            if not re.fullmatch(r"-?[0-9]+", text):
                raise ApiError(400, f"{name} must be a whole number, not {text[:40]!r}")
            # Past 30 digits it is out of any range: not converted (long texts are slow to convert).
            number = int(text) if len(text) <= 30 else None
            if number is None or not self.minimum <= number <= self.maximum:
                raise ApiError(400, f"{name} must be between {self.minimum} and {self.maximum}, not {text[:40]}")
            return number
        if self.enum and text not in self.choices:
            raise ApiError(400, f"{name} must be one of {', '.join(self.choices)}, not {text[:40]!r}")
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise ApiError(400, f"{name} must match {self.pattern}, not {text[:40]!r}")
        return text


# Checked by the views themselves (a form field, a move's reason), declared here for the document too.
REPLACES = Param("replaces", "form", "integer", "A rejected submission this file corrects.", minimum=1, maximum=INT32)
REASON_LENGTH = 2000
