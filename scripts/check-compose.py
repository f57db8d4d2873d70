#!/usr/bin/env python3
"""What `docker compose config` checks, without Docker: docker-compose.yml is
interpolated the way compose does it (.env, then the environment, `${X}`,
`${X:-default}`, `${X-default}`, `${X:?error}`, `${X?error}`, `$$`), and the
result validated against the compose specification's JSON schema, pinned in
deploy/compose/compose-spec.json (compose-spec/compose-spec, schema/).

    check-compose.py [--file docker-compose.yml] [--env-file .env]
                     [--set NAME=VALUE]... [--unset NAME]... [--dump]

Exit 0 and one line when compose would accept the file; exit 1 with every
problem otherwise: a required variable without a value (what compose
refuses to start on) or a schema violation. `--dump` prints the
interpolated file as JSON instead of the line. Runs with a python that has
jsonschema and PyYAML (the kubernetes-validate venv of
scripts/install-kubernetes-validate.sh has both);
services/api/tests/compose.rs runs it.
"""

import argparse
import json
import os
import re
import sys

import jsonschema
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def read_env_file(path):
    """KEY=VALUE lines, as compose reads .env: comments and blanks skipped,
    one pair of surrounding quotes removed."""
    env = {}
    if not os.path.exists(path):
        return env
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def interpolate(value, env, where, errors):
    """Compose interpolates values, never keys or comments."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}", errors) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]", errors) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(m):
        if m.group("escaped"):
            return "$"
        name = m.group("braced") or m.group("named")
        op, arg = m.group("op"), m.group("arg") or ""
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-"):
            return arg if missing else current
        if op in (":?", "?") and missing:
            errors.append(f"{where}: required variable {name} is missing a value: {arg}")
            return ""
        return current or ""

    return VARIABLE.sub(substitute, value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=os.path.join(ROOT, "docker-compose.yml"))
    parser.add_argument("--env-file", default=os.path.join(ROOT, ".env"))
    parser.add_argument("--schema", default=os.path.join(ROOT, "deploy/compose/compose-spec.json"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--unset", action="append", default=[], metavar="NAME")
    parser.add_argument("--dump", action="store_true", help="print the interpolated file as JSON")
    args = parser.parse_args()

    # As compose: .env first, the environment wins.
    env = read_env_file(args.env_file)
    env.update(os.environ)
    for pair in args.set:
        name, _, value = pair.partition("=")
        env[name] = value
    for name in args.unset:
        env.pop(name, None)

    with open(args.file, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)

    errors = []
    config = interpolate(raw, env, "", errors)
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        errors.append(f"{path}: {error.message}")
    name = os.path.relpath(args.file, ROOT)
    if errors:
        for error in errors:
            print(f"{name}: {error}", file=sys.stderr)
        return 1
    if args.dump:
        json.dump(config, sys.stdout, indent=1, sort_keys=True)
        return 0
    services = sorted((config.get("services") or {}).keys())
    print(f"{name}: valid against the compose specification ({len(services)} services: {', '.join(services)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
