"""A seeded random sample of the mutants of some modules, for `make mutation SAMPLE=N` (docs/mutation.md).

A surviving mutant of the fold's modules runs every unit test that reaches its function (a minute or more
each on two cores), so a full run of records.py, validate.py, policy.py and fold.py takes many hours. A
uniform sample of N percent of each module's mutants, drawn with a fixed seed, estimates the score in a
fraction of that time; the report then says how many of each module's mutants were checked.

First generates the mutants as `mutmut run` does before it tests any (mutmut 3.7's own steps, in
mutants/), then prints the sample's names, one a line, for `mutmut run NAME ...`.

Usage: python -m ops.mutation_sample --percent N [--seed S] MODULE ...   (MODULE: e.g. projections/fold.py)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
from pathlib import Path

SEED_DEFAULT = 34
PERCENT_MAX = 100


def generate_mutants() -> None:
    """mutmut run's first step: the code copied to mutants/ with every mutant behind a switch."""
    from mutmut.__main__ import (Config, copy_also_copy_files, copy_src_dir, create_mutants, setup_source_paths,
                                 store_lines_covered_by_tests)
    Config.ensure_loaded()
    Path("mutants").mkdir(exist_ok=True)
    copy_src_dir()
    copy_also_copy_files()
    setup_source_paths()
    store_lines_covered_by_tests()
    create_mutants(2)


def mutant_names(module: str, mutants_dir: Path = Path("mutants")) -> list[str]:
    """Every mutant of `module` (projections/fold.py), by mutmut's name, sorted."""
    meta = mutants_dir / f"{module}.meta"
    return sorted(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])


def sample(names: list[str], percent: float, seed: int) -> list[str]:
    """`percent` of `names` (at least one), drawn uniformly with `seed`; the same arguments, the same sample."""
    assert 0 < percent <= PERCENT_MAX, percent
    count = max(1, round(len(names) * percent / 100))
    return sorted(random.Random(seed).sample(names, count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.mutation_sample", description=__doc__.splitlines()[0])
    parser.add_argument("--percent", type=float, required=True)
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args(argv)
    if not 0 < args.percent <= PERCENT_MAX:
        parser.error(f"--percent: from more than 0 to {PERCENT_MAX}")
    with contextlib.redirect_stdout(sys.stderr):  # mutmut's progress is not a name
        generate_mutants()
    for module in args.modules:
        for name in sample(mutant_names(module), args.percent, args.seed):
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
