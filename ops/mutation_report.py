"""The score and the surviving mutants of a mutmut run (`make mutation`, docs/mutation.md).

Reads what mutmut 3 leaves in mutants/: for each mutated module, `<module>.py.meta` (each mutant's exit
code) and `<module>.py.spans` (where each mutant function stands in the mutated copy). Prints, per
module and in total, the mutants killed, timed out, survived and reached by no unit test, the score
(killed and timed out over all mutants checked; a mutant no test reaches counts as a survivor), and
each survivor as the line it changes, so that a survivor can be judged without `mutmut show`.

Usage: python -m ops.mutation_report [--mutants DIR] [MODULE ...]  (MODULE: e.g. projections/ids.py)
Exit status 0; 1 when there is no result to report.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut 3's exit codes (mutmut.__main__.status_by_exit_code)
KILLED = {1: "killed", 3: "killed"}
TIMEOUT = {-24: "timeout", 24: "timeout", 36: "timeout", 152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived"}
NO_TESTS = {5: "no tests", 33: "no tests"}
SKIPPED = {34: "skipped", None: "not checked"}
SEP = "\u01c1"  # mutmut's separator in a method's name: xǁClassǁmethod


def status(code) -> str:
    for table in (KILLED, TIMEOUT, SURVIVED, NO_TESTS, SKIPPED):
        if code in table:
            return table[code]
    return "suspicious"


def _function_lines(source_path: Path) -> dict[str, int]:
    """Where each function and method of the original module starts, by mutmut's name for it."""
    lines: dict[str, int] = {}
    try:
        tree = ast.parse(source_path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return lines
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines[f"x_{node.name}"] = node.lineno
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines[f"x{SEP}{node.name}{SEP}{item.name}"] = item.lineno
    return lines


def _changed_line(mutated: list[str], spans: dict, mutant: str, start_of: dict[str, int]) -> str:
    """`line N: old -> new` for a mutant, from its function beside the original in the mutated copy."""
    function = mutant.rsplit("__mutmut_", 1)[0]
    orig, this = spans.get(f"{function}__mutmut_orig"), spans.get(mutant)
    if orig is None or this is None:
        return "(source not found)"
    before = mutated[orig[0] - 1:orig[1]]
    after = mutated[this[0] - 1:this[1]]
    after = [line.replace(mutant, f"{function}__mutmut_orig", 1) for line in after]
    old, new, at = [], [], None
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        at = i1 if at is None else at
        old += [line.strip() for line in before[i1:i2]]
        new += [line.strip() for line in after[j1:j2]]
    if at is None:
        return "(no textual change)"
    line = start_of.get(function, 0) + at if function in start_of else None
    where = f"line {line}" if line else "line ?"
    name = function.rsplit(SEP, 1)[-1].removeprefix("x_")  # x_name, or xǁClassǁname for a method
    old_text = " ".join(old).replace(f"{function}__mutmut_orig", name) or "(nothing)"
    new_text = " ".join(new).replace(f"{function}__mutmut_orig", name) or "(removed)"
    return f"{where}: {old_text}  ->  {new_text}"


def report(mutants: Path, modules: list[str], out=sys.stdout) -> int:
    metas = sorted(mutants.glob("**/*.py.meta"))
    if modules:
        wanted = {m.removesuffix(".py").replace(".", "/").removesuffix("/py") + ".py" for m in modules}
        metas = [m for m in metas if str(m.relative_to(mutants)).removesuffix(".meta") in wanted]
    total: Counter = Counter()
    rows, survivors = [], []
    for meta in metas:
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        counts = Counter(status(code) for code in codes.values())
        if not codes or counts["not checked"] == len(codes):
            continue
        total.update(counts)
        rows.append((module, counts))
        spans_path = meta.with_name(meta.name.removesuffix(".meta") + ".spans")
        spans = json.loads(spans_path.read_text(encoding="utf-8"))["spans"] if spans_path.exists() else {}
        mutated = (mutants / module).read_text(encoding="utf-8").splitlines()
        start_of = _function_lines(Path(module))
        for name, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
            if status(code) in ("survived", "no tests", "suspicious"):
                short = name.split(".")[-1]
                survivors.append((module, status(code), name, _changed_line(mutated, spans, short, start_of)))
    if not rows:
        print(f"no mutation results under {mutants}/ (run `make mutation` first)", file=out)
        return 1
    print(f"{'module':<32} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} {'no test':>7} "
          f"{'unchecked':>9} {'score':>7}", file=out)
    for module, counts in rows + [("total", total)]:
        checked = sum(counts.values()) - counts["not checked"] - counts["skipped"]
        detected = counts["killed"] + counts["timeout"]
        score = f"{100 * detected / checked:.1f}%" if checked else "-"
        print(f"{module:<32} {sum(counts.values()):>7} {counts['killed']:>7} {counts['timeout']:>7} "
              f"{counts['survived'] + counts['suspicious']:>8} {counts['no tests']:>7} "
              f"{counts['not checked'] + counts['skipped']:>9} {score:>7}", file=out)
    if survivors:
        print(f"\nsurvivors ({len(survivors)}): `mutmut show NAME` (in the repository) prints a mutant's diff",
              file=out)
        for module, what, name, change in survivors:
            print(f"  {what:<9} {name}\n            {module} {change}", file=out)
    return 0


def _natural(name: str):
    head, _, number = name.rpartition("__mutmut_")
    return (head, int(number) if number.isdigit() else 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args(argv)
    return report(args.mutants, args.modules)


if __name__ == "__main__":
    sys.exit(main())
