#!/usr/bin/env python3
"""Filter sealinit's JSON events out of a container log.

usage: events.py FILE EVENT [FILTER ...]

FILE holds the container's stdout+stderr; lines that are not JSON objects (the
workload's own output, podman noise) are ignored. EVENT is the `event` field
to match, or `*` for any. Each FILTER is one of
  key=value     the field, as a string, equals value (numbers compare as text)
  key~text      the field, as a string, contains text
  key>number    the field is a number greater than number
  key?          the field is present
Prints each matching event as one JSON line; exits 0 if any matched, 1 if none,
2 on a usage error.
"""
import json
import sys


def parse_filter(spec):
    for op in ("=", "~", ">"):
        if op in spec:
            key, value = spec.split(op, 1)
            return key, op, value
    if spec.endswith("?"):
        return spec[:-1], "?", None
    raise ValueError(f"bad filter {spec!r}")


def as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(obj, event, filters):
    if event != "*" and obj.get("event") != event:
        return False
    for key, op, want in filters:
        if key not in obj:
            return False
        got = obj[key]
        if op == "=" and as_text(got) != want:
            return False
        if op == "~" and want not in as_text(got):
            return False
        if op == ">":
            if isinstance(got, bool) or not isinstance(got, (int, float)):
                return False
            if not got > float(want):
                return False
    return True


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, event = argv[1], argv[2]
    try:
        filters = [parse_filter(f) for f in argv[3:]]
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    found = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            start = line.find("{")
            if start < 0:
                continue
            try:
                obj = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(obj, dict) and matches(obj, event, filters):
                print(json.dumps(obj, sort_keys=True))
                found += 1
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
