#!/usr/bin/env python3
"""Checks one Engine API response against moby's swagger.yaml: every
required field present and every field of the right JSON type, following
$ref, allOf, items and additionalProperties. A light check, not a full
JSON-schema validator.

usage: check.py SCHEMA < response.json
SCHEMA is `definitions/NAME` or `paths/PATH/METHOD/STATUS`
(e.g. `paths//images/json/get/200`).
"""
import json
import sys

import yaml

SWAGGER = "/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml"
TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
    "number": (int, float),
}


def resolve(spec, schema):
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def check(spec, schema, value, path, errs):
    schema = resolve(spec, schema)
    for sub in schema.get("allOf", []):
        check(spec, sub, value, path, errs)
    if value is None:
        if schema.get("x-nullable") is False:
            errs.append(f"{path}: null where the schema says not nullable")
        return
    t = schema.get("type")
    if t in TYPES:
        ok = isinstance(value, TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool))
        if not ok:
            errs.append(f"{path}: want {t}, got {type(value).__name__} {json.dumps(value)[:60]}")
            return
    if isinstance(value, dict):
        for r in schema.get("required", []):
            if r not in value:
                errs.append(f"{path}: missing required field {r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                check(spec, props[k], v, f"{path}.{k}", errs)
            elif isinstance(extra, dict):
                check(spec, extra, v, f"{path}.{k}", errs)
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            check(spec, schema["items"], v, f"{path}[{i}]", errs)


def main():
    target = sys.argv[1]
    with open(SWAGGER) as f:
        spec = yaml.safe_load(f)
    if target.startswith("definitions/"):
        schema = spec["definitions"][target.split("/", 1)[1]]
    else:
        _, rest = target.split("/", 1)
        p, method, status = rest.rsplit("/", 2)
        schema = spec["paths"][p][method]["responses"][int(status)]["schema"]
    value = json.load(sys.stdin)
    errs = []
    check(spec, schema, value, "$", errs)
    for e in errs:
        print(f"{target}: {e}")
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
