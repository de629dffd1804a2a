"""Publish the current record schemas (codec.PUBLISHED_RECORDS): `python -m ops.avro_gen`.

Run it after changing any ``avro_schemas/*.avsc`` and check the new file in:
``avro_schemas/published/<Name>.<fingerprint hex>.avsc`` holds the fully expanded
schema, and readers find old records' writer schemas there by fingerprint.
Published files are never edited or deleted (a test checks the current ones exist).
"""
from __future__ import annotations

import json
from pathlib import Path

from streams import codec


def publish(directory: Path = codec.PUBLISHED_DIR) -> list[Path]:
    """Write the current schemas' published files if missing; returns the new paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for schema in codec.PUBLISHED_RECORDS:
        path = directory / f"{schema['name']}.{codec.fingerprint(schema).hex()}.avsc"
        if not path.exists():
            path.write_text(json.dumps(schema, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for new in publish():
        print(f"published {new}")
