"""The layering is enforced, not hoped for: projections/ stays pure, ops > streams > projections."""
import subprocess
import sys

from tests.helpers import REPO


def test_import_contracts_hold():
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports())"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
