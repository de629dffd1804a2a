"""docs/events.md is what the catalogue says today (regenerate: python -m ops.event_docs > docs/events.md)."""
from pathlib import Path

from ops.event_docs import event_docs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_the_publishers_reference_is_current():
    assert DOCS.read_text(encoding="utf-8") == event_docs(), "run: python -m ops.event_docs > docs/events.md"
