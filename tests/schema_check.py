"""A small JSON Schema checker for the suite: the keywords docs/ uses, no more.

It knows type, enum, const, properties, required, additionalProperties,
items, minimum, $ref (to "#/$defs/...") and oneOf: enough to hold the CLI's
output to rstrtmgr/list-output.schema.json without a test dependency.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
KNOWN = {
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minimum",
    "oneOf",
}


def _type_ok(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def errors(  # noqa: PLR0912 - one branch per keyword
    value: Any,
    schema: dict[str, Any],
    root: dict[str, Any] | None = None,
    where: str = "$",
) -> list[str]:
    """Every way ``value`` breaks ``schema``, as "path: problem" lines."""
    root = schema if root is None else root
    unknown = set(schema) - KNOWN
    if unknown:
        return [f"{where}: the checker does not know {sorted(unknown)}"]
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        return errors(value, root["$defs"][ref[len("#/$defs/") :]], root, where)
    out: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_type_ok(value, n) for n in names):
            return [f"{where}: {value!r} is not of type {names}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} is not one of {schema['enum']}")
    low = schema.get("minimum")
    if low is not None and isinstance(value, (int, float)) and value < low:
        out.append(f"{where}: {value} < {low}")
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not errors(value, s, root, where)]
        if len(ok) != 1:
            out.append(f"{where}: matches {len(ok)} of oneOf, not 1")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{where}: {name!r} is missing")
        for name, item in value.items():
            if name in props:
                out += errors(item, props[name], root, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}: {name!r} is not in the schema")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += errors(item, schema["items"], root, f"{where}[{i}]")
    return out
