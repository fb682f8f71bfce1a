"""`python -m tests.golden --update [--case NAME ...]`: re-record the golden file from the code as it is.

Run it only on purpose: after a deliberate VERSION bump, a new case, or an intended key-format change
(say which in the commit). Without --update it prints what it would do.
"""

from __future__ import annotations

import argparse

from tests.golden import EXPECTED, update
from tests.golden.cases import CASES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help=f"rewrite {EXPECTED.name}")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only this case (repeatable)")
    args = parser.parse_args(argv)
    names = args.case or list(CASES)
    if not args.update:
        print(f"would re-record {', '.join(names)} in {EXPECTED}; pass --update to do it")
        return 0
    for name, seconds in update([CASES[name] for name in names]).items():
        print(f"{name}: recorded in {seconds} s")
    print(f"wrote {EXPECTED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
