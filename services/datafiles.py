"""Loading the repository's YAML data files (policies/, hardware/): parsing, the duplicate-key
check YAML itself skips, and JSON-Schema errors translated into problems a person can act on.

One translation for every data file, so that policies and hardware say the same thing for the
same mistake.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Problem:
    file: str   # e.g. "policies/agreements.yaml"
    path: str   # e.g. "agreements.ANETI.submits[2]"
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


def display(path: Path) -> str:
    """A file as problems name it: relative to the repository when inside it."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def join(parts: Iterable[Any]) -> str:
    """A path in a data file: keys joined by dots, list indexes in brackets."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def type_name(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "text", bool: "boolean", int: "integer", float: "number",
            type(None): "nothing"}.get(type(value), type(value).__name__)


def schema_problems(file: str, error: jsonschema.ValidationError) -> list[Problem]:
    """One JSON-Schema error as problems (several for a `required` or `additionalProperties`)."""
    path = list(error.absolute_path)
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    value, instance = error.validator_value, error.instance
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema reports a bad key at its mapping's path; point at the key itself.
        return [Problem(file, join([*path, instance]), f"{instance!r} is not a valid {title or 'key'}")]
    match error.validator:
        case "required":
            return [Problem(file, join([*path, key]), "is required") for key in value if key not in instance]
        case "additionalProperties":
            known = ", ".join(error.schema.get("properties", {}))
            return [Problem(file, join([*path, key]), f"unexpected key; expected one of: {known}")
                    for key in instance if key not in error.schema.get("properties", {})]
        case "enum":
            message = f"unknown {title or 'value'} {instance!r}; expected one of: {', '.join(map(str, value))}"
        case "type":
            message = f"expected {'a mapping' if value == 'object' else value}, found {type_name(instance)}"
        case "pattern":
            message = f"{instance!r} is not a valid {title or 'value'}"
        case "minLength" | "minItems":
            message = "must not be empty"
        case "uniqueItems":
            repeated = sorted({str(x) for x in instance if instance.count(x) > 1})
            message = f"lists {', '.join(map(repr, repeated))} more than once"
        case "minimum":
            message = f"must be at least {value}, found {instance!r}"
        case "exclusiveMinimum":
            message = f"must be more than {value}, found {instance!r}"
        case _:
            message = error.message
    return [Problem(file, join(path), message)]


def validate(validator: jsonschema.Validator, data: Any, file: str) -> list[Problem]:
    """Every schema problem of `data`, in the order of their paths."""
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [problem for error in errors for problem in schema_problems(file, error)]


def duplicate_keys(file: str, node: yaml.Node | None, path: list | None = None) -> list[Problem]:
    """YAML keeps the last of two equal keys silently; find them in the node tree first."""
    out: list[Problem] = []
    path = path or []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key in seen:
                out.append(Problem(file, join([*path, key]),
                                   f"duplicate key {key!r} (first at line {seen[key] + 1}, again at line "
                                   f"{key_node.start_mark.line + 1})"))
            else:
                seen[key] = key_node.start_mark.line
            out += duplicate_keys(file, value_node, [*path, key])
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += duplicate_keys(file, item, [*path, i])
    return out


def parse(text: str, file: str, where: str = "") -> tuple[Any, list[Problem]]:
    """YAML text as data, with its duplicate keys as problems; (None, [problem]) when not YAML.
    `where` names the place of a syntax error that YAML cannot put on a line."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark else where
        return None, [Problem(file, at, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]
    return data, duplicate_keys(file, node)
