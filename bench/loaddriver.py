"""Runs the kit's load generator (kit_harness.loadgen) inside the bench container, with marks.

Copied into the container with kit_harness/loadgen.py beside it (the package it imports, there a
namespace package) and started with ``docker exec -i``; it reads one
command a line on stdin: ``mark NAME`` marks a phase, ``stop`` (or the end of stdin) stops the
load and prints the report as one JSON object. Standard library only (the host has python3).
The load stops by itself after --max-seconds whatever happens on stdin.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from kit_harness import loadgen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1", help="where to connect (nginx)")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--server-name", required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    load = loadgen.LoadGenerator(
        loadgen.Target(args.address, args.port, args.server_name, args.cafile),
        workers=args.workers,
        rate=args.rate,
        max_seconds=args.max_seconds,
        max_requests=100_000,
    )
    load.start()
    print("started", flush=True)
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command == "mark" and name:
            load.mark(name)
        elif command == "stop":
            break
    report = load.stop()
    print(json.dumps(report.to_json()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
