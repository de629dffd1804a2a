"""`credit-ledger sample` as a user runs it: the 双随机一公开 inspection sample from a demo file."""
from __future__ import annotations

import csv
import io
import json

import pytest

from ops.demo import demo_jsonl
from tests.helpers import cli

GRADES = ("A", "B", "C", "D")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "demo.jsonl"
    demo_jsonl(path)
    return path


@pytest.fixture(scope="module")
def files(demo):
    """The demo's credit files, as replay folds them."""
    done = cli("replay", "--from-file", str(demo), "--json")
    assert done.returncode == 0, done.stderr
    return {sid: view["file"] for sid, view in json.loads(done.stdout)["files"].items()}


def sample(demo, *args: str) -> dict:
    done = cli("sample", "--from-file", str(demo), *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_same_seed_draws_the_same_sample_and_json_and_csv_agree(demo, files):
    first = cli("sample", "--from-file", str(demo), "--size", "10", "--seed", "20250601")
    again = cli("sample", "--from-file", str(demo), "--size", "10", "--seed", "20250601")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    drawn = json.loads(first.stdout)
    assert drawn["size"] == 10 and drawn["seed"] == 20250601
    assert set(drawn["ratios"]) == set(GRADES) and set(drawn["population"]) == set(GRADES)
    assert sum(drawn["population"].values()) == len(files)
    assert sum(drawn["drawn"].values()) == len(drawn["sample"]) == 10
    assert all(drawn["drawn"][g] <= drawn["population"][g] for g in GRADES)
    ids = [row["subject_id"] for row in drawn["sample"]]
    assert len(set(ids)) == 10 and set(ids) <= set(files)
    assert [(row["grade"], row["subject_id"]) for row in drawn["sample"]] == sorted(
        (row["grade"], row["subject_id"]) for row in drawn["sample"])

    other = sample(demo, "--size", "10", "--seed", "20250602")
    assert other["sample"] != drawn["sample"] and other["drawn"] == drawn["drawn"]  # same allocation

    as_csv = cli("sample", "--from-file", str(demo), "--size", "10", "--seed", "20250601", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.startswith("\ufeffsubject_id,name,grade,score,region_code,industry_code")  # BOM for Excel
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout.removeprefix("\ufeff"))))
    assert rows == [{k: "" if v is None else str(v) for k, v in row.items()} for row in drawn["sample"]]
    assert any(row["name"] and not row["name"].isascii() for row in rows)  # Chinese names survive


def test_filters(demo, files):
    everyone = sample(demo, "--size", "100000", "--seed", "1")
    assert len(everyone["sample"]) == len(files)  # a size over the population: everyone
    assert everyone["drawn"] == everyone["population"]

    by_region = sample(demo, "--size", "100000", "--seed", "1", "--region", "4202")
    expected = {sid for sid, f in files.items() if (f["subject"].get("region_code") or "").startswith("4202")}
    assert expected and len(expected) < len(files)
    assert {row["subject_id"] for row in by_region["sample"]} == expected
    assert sum(by_region["population"].values()) == len(expected)

    by_industry = sample(demo, "--size", "100000", "--seed", "1", "--industry", "C", "--region", "4202")
    assert {row["subject_id"] for row in by_industry["sample"]} == {
        sid for sid in expected if (files[sid]["subject"].get("industry_code") or "").startswith("C")}

    with_records = {sid: {r["source"].get("authority_code") for records in f["records"].values() for r in records}
                    for sid, f in files.items()}
    authority = max({a for codes in with_records.values() for a in codes if a},
                    key=lambda a: sum(a in codes for codes in with_records.values()))
    by_authority = sample(demo, "--size", "100000", "--seed", "1", "--authority", authority)
    assert {row["subject_id"] for row in by_authority["sample"]} == {
        sid for sid, codes in with_records.items() if authority in codes}

    few = sample(demo, "--size", "2", "--seed", "1", "--region", "4202")
    assert len(few["sample"]) == 2 and {row["subject_id"] for row in few["sample"]} <= expected


@pytest.mark.parametrize("args, words", [
    (("--size", "0"), "--size"),
    (("--size", "100001"), "--size"),
    (("--format", "xml"), "--format"),
    (("--region", "湖北"), "--region"),
    (("--industry", "c17"), "--industry"),
    (("--authority", "not-a-code"), "--authority"),
    (("--kafka", "127.0.0.1:1"), "not both"),
])
def test_bad_options_exit_2_with_a_message(demo, args, words):
    done = cli("sample", "--from-file", str(demo), "--size", "5", "--seed", "1", *args)
    assert done.returncode == 2 and words in done.stderr, done.stderr
