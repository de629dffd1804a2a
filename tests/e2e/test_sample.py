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


def drawable(files: dict) -> dict:
    """The files a draw may take (issue 29 R9): never a deregistered subject or a natural person."""
    return {sid: f for sid, f in files.items()
            if f["subject"]["kind"] != "NATURAL_PERSON" and not f["subject"].get("deregistered_on")}


def test_the_same_seed_draws_the_same_sample_and_json_and_csv_agree(demo, files):
    first = cli("sample", "--from-file", str(demo), "--seed", "20250601")
    again = cli("sample", "--from-file", str(demo), "--seed", "20250601")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    drawn = json.loads(first.stdout)
    assert drawn["size"] is None and drawn["seed"] == 20250601 and not drawn["capped"]
    assert set(drawn["ratios"]) == set(GRADES) and set(drawn["population"]) == set(GRADES)
    assert sum(drawn["population"].values()) == len(drawable(files))
    assert drawn["excluded"] == len(files) - len(drawable(files)) > 0
    # ⌈ratio × count⌉ of each grade
    assert drawn["drawn"] == drawn["by_ratio"] == {
        g: -(-round(drawn["ratios"][g] * 1000) * drawn["population"][g] // 1000) for g in GRADES}
    assert sum(drawn["drawn"].values()) == len(drawn["sample"])
    ids = [row["subject_id"] for row in drawn["sample"]]
    assert len(set(ids)) == len(ids) and set(ids) <= set(drawable(files))
    assert [(row["grade"], row["subject_id"]) for row in drawn["sample"]] == sorted(
        (row["grade"], row["subject_id"]) for row in drawn["sample"])

    other = sample(demo, "--seed", "20250602")
    assert other["sample"] != drawn["sample"] and other["drawn"] == drawn["drawn"]  # same allocation

    as_csv = cli("sample", "--from-file", str(demo), "--seed", "20250601", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.startswith("\ufeffsubject_id,name,grade,score,region_code,industry_code")  # BOM for Excel
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout.removeprefix("\ufeff"))))
    assert rows == [{k: "" if v is None else str(v) for k, v in row.items()} for row in drawn["sample"]]
    assert any(row["name"] and not row["name"].isascii() for row in rows)  # Chinese names survive


def test_filters(demo, files):
    files = drawable(files)
    by_region = sample(demo, "--seed", "1", "--region", "4202")
    expected = {sid for sid, f in files.items() if (f["subject"].get("region_code") or "").startswith("4202")}
    assert expected and len(expected) < len(files)
    assert {row["subject_id"] for row in by_region["sample"]} <= expected
    assert sum(by_region["population"].values()) == len(expected)

    by_industry = sample(demo, "--seed", "1", "--industry", "C", "--region", "4202")
    assert sum(by_industry["population"].values()) == len(
        {sid for sid in expected if (files[sid]["subject"].get("industry_code") or "").startswith("C")})

    with_records = {sid: {r["source"].get("authority_code") for records in f["records"].values() for r in records}
                    for sid, f in files.items()}
    authority = max({a for codes in with_records.values() for a in codes if a},
                    key=lambda a: sum(a in codes for codes in with_records.values()))
    by_authority = sample(demo, "--seed", "1", "--authority", authority)
    assert sum(by_authority["population"].values()) == sum(authority in codes for codes in with_records.values())
    assert {row["subject_id"] for row in by_authority["sample"]} <= {
        sid for sid, codes in with_records.items() if authority in codes}


def test_a_size_caps_the_draws_in_proportion_and_says_so(demo):
    done = cli("sample", "--from-file", str(demo), "--seed", "1", "--size", "2")
    assert done.returncode == 0 and "scaled down in proportion" in done.stderr, done.stderr
    capped = json.loads(done.stdout)
    assert capped["capped"] and sum(capped["drawn"].values()) == len(capped["sample"]) == 2
    assert all(capped["drawn"][g] <= capped["by_ratio"][g] for g in GRADES)


def test_inspectors_are_drawn_two_a_subject_none_of_an_authority_with_a_record_on_it(demo, files, tmp_path):
    authorities = sorted({r["source"]["authority_code"] for f in files.values() for records in f["records"].values()
                          for r in records})
    roster = tmp_path / "inspectors.csv"
    roster.write_text("inspector_id,name,authority_code\n" + "".join(
        f"ZF{i:03d},执法人员{i},{authorities[i % len(authorities)]}\n" for i in range(60)), encoding="utf-8")
    drawn = sample(demo, "--seed", "7", "--inspectors", str(roster))
    by_id = {f"ZF{i:03d}": authorities[i % len(authorities)] for i in range(60)}
    assert drawn["inspectors_per_subject"] == 2
    for row in drawn["sample"]:
        own = {r["source"]["authority_code"] for records in files[row["subject_id"]]["records"].values() for r in records}
        assert len(set(row["inspectors"])) == 2 and not {by_id[i] for i in row["inspectors"]} & own
    assert sample(demo, "--seed", "7", "--inspectors", str(roster)) == drawn


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


def test_a_name_that_looks_like_a_formula_stays_text_in_the_csv(tmp_path):
    from projections.ids import make_uscc
    from tests.unit import events as ev

    names = {make_uscc("410105", 9100 + n): name for n, name in enumerate(
        ("=HYPERLINK(\"http://x\",\"点击\")", "+1+1有限公司", "-2公司", "@SUM(A1)公司"))}
    lines = [ev.event("SubjectRegistered", {"region_code": "410105", "registered_on": "2015-01-02"},
                      subject={"id": sid, "kind": "LEGAL_PERSON", "name": name}) for sid, name in names.items()]
    path = tmp_path / "formulas.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    for seed in ("1", "2", "3"):
        done = cli("sample", "--from-file", str(path), "--seed", seed, "--format", "csv")
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(io.StringIO(done.stdout.removeprefix("\ufeff"))))
        assert rows and all(row["name"] == "'" + names[row["subject_id"]] for row in rows)
