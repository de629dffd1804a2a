"""The layering is enforced, not hoped for: projections/ stays pure, ops > streams > projections; inside
streams/ the wiring (app.py) is imported by nobody, the building blocks import none of the worker's parts,
and the dashboard's state and pages know no web server (the contracts in pyproject.toml)."""
import ast
import subprocess
import sys
import tomllib

from tests.helpers import REPO

BLOCKS_CONTRACT = "the worker's building blocks import none of its parts (each part is installed by streams.app)"


def test_import_contracts_hold():
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports())"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def worker_parts() -> set[str]:
    """The modules of streams/ with a top-level `install(app, worker)`: the parts of the worker."""
    parts = set()
    for path in sorted((REPO / "streams").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name == "install" \
                    and [arg.arg for arg in node.args.args] == ["app", "worker"]:
                parts.add(f"streams.{path.stem}")
    return parts


def test_every_part_of_the_worker_is_in_the_layering_contract():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    (blocks,) = [contract for contract in contracts if contract["name"] == BLOCKS_CONTRACT]
    parts = worker_parts()
    assert {"streams.worker_fold", "streams.dashboard_routes", "streams.routes_files"} <= parts  # the scan finds them
    assert parts == set(blocks["forbidden_modules"]), "a new part goes in the contract's forbidden_modules"
    assert not parts & set(blocks["source_modules"])
    dashboard = {f"streams.{path.stem}" for path in (REPO / "streams").glob("dashboard*.py")}
    assert dashboard <= parts | set(blocks["source_modules"]), "every file of the dashboard is in the contract"
