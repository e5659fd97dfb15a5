"""python -m kit_build: build the release of a project for a host; prints one JSON object.

Exit 0 with the release (release_id, wheelhouse, source_archive, requirements, mode, notes...);
exit 1 with one message on stderr naming the setting to change (nothing was built for the host).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .errors import BuildError
from .project import detect
from .release import Options, build


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kit_build", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--source", type=Path, required=True, help="the project to build (app_source)"
    )
    parser.add_argument(
        "--detect",
        action="store_true",
        help="only recognise the project: print its mode, name and Python requirement",
    )
    parser.add_argument("--python", help="the host's Python, e.g. 3.11.2")
    parser.add_argument("--arch", help="the host's machine, e.g. x86_64")
    parser.add_argument("--glibc", help="the host's glibc, e.g. 2.36")
    parser.add_argument("--cache", type=Path, help="wheelhouse cache directory")
    parser.add_argument(
        "--runtime", type=Path, help="the kit's runtime project, installed beside the project"
    )
    parser.add_argument(
        "--constraints",
        type=Path,
        help="pins for the dependencies (default: <source>/constraints.txt when present)",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], help="a glob of files that never ship"
    )
    parser.add_argument(
        "--prebuild",
        default="[]",
        help="a JSON argv run in the shipped tree before the build (app_prebuild_command)",
    )
    args = parser.parse_args(argv)
    if not args.detect and None in (args.python, args.arch, args.glibc, args.cache):
        parser.error("--python, --arch, --glibc and --cache are required to build")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    source = args.source.resolve()
    constraints = args.constraints
    if constraints is None and (source / "constraints.txt").is_file():
        constraints = source / "constraints.txt"
    try:
        if args.detect:
            found = detect(source)
            print(
                json.dumps(
                    {
                        "mode": found.mode,
                        "name": found.name,
                        "requires_python": found.requires_python,
                    }
                )
            )
            return 0
        prebuild = json.loads(args.prebuild)
        if not isinstance(prebuild, list) or not all(isinstance(x, str) for x in prebuild):
            raise BuildError("app_prebuild_command must be a list of strings (an argv)")
        release = build(
            source,
            Options(
                python=args.python,
                arch=args.arch,
                glibc=args.glibc,
                cache=args.cache.resolve(),
                runtime=args.runtime.resolve() if args.runtime else None,
                constraints=constraints,
                exclude=list(args.exclude),
                prebuild=prebuild,
            ),
        )
    except (BuildError, ValueError) as error:
        print(f"kit_build: {error}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(release)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
