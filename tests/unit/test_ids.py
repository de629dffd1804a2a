"""Unified social credit codes (GB 32100) and resident ID numbers (GB 11643)."""
from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from projections.ids import (
    USCC_ALPHABET,
    USCC_CATEGORIES,
    id_kind,
    make_resident_id,
    make_uscc,
    org_check_char,
    resident_id_problems,
    uscc_check_char,
    uscc_problems,
)

HUAWEI = "914403001922038216"  # 华为技术有限公司
PUBLISHED_EXAMPLE = "91350100M000100Y43"  # the example printed with GB 32100
DESIGN_AUTHORITY = "11440300MB2C92050G"  # 深圳市市场监督管理局, used in DESIGN.md
MESSAGE = re.compile(r"^character (\d+) '(.+)': .+ \(GB[/T ]* \d+-\d{4}\)$")

regions = st.sampled_from(["410102", "410105", "440703", "440704", "630202", "630203",
                           "420202", "420205", "410100", "110105"])
kinds = st.sampled_from([(a, c) for a, cats in USCC_CATEGORIES.items() for c in cats])
serials = st.integers(min_value=0, max_value=10**6)


# --- hand computations, independent of the implementation -------------------

def test_huawei_check_characters_by_hand():
    # GB 11714 on 19220382: 1*3+9*7+2*9+2*10+0*5+3*8+8*4+2*2 = 164; 164 mod 11 = 10; 11-10 = 1
    body = HUAWEI[8:16]
    total = sum(int(ch) * w for ch, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2)))
    assert (body, total) == ("19220382", 164)
    assert org_check_char(body) == str(11 - total % 11) == HUAWEI[16] == "1"
    # GB 32100: values 9,1,4,4,0,3,0,0,1,9,2,2,0,3,8,2,1 times 3**i mod 31 sum to 831;
    # 831 mod 31 = 25; 31-25 = 6
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    assert weights == [3**i % 31 for i in range(17)]
    total = sum(int(ch) * w for ch, w in zip(HUAWEI[:17], weights))  # all digits: a digit's value is itself
    assert total == 831
    assert uscc_check_char(HUAWEI[:17]) == str(31 - total % 31) == HUAWEI[17] == "6"
    assert uscc_problems(HUAWEI) == []


def test_published_example_by_hand():
    # organisation code M000100Y-4: letters count A=10 ... Z=35 in GB 11714, so M=22, Y=34:
    # 22*3 + 1*5 + 34*2 = 139; 139 mod 11 = 7; 11-7 = 4
    assert org_check_char("M000100Y") == "4"
    # in the 31-character alphabet of GB 32100, M=21 and Y=30: the weighted sum is 1640,
    # 1640 mod 31 = 28, 31-28 = 3
    assert USCC_ALPHABET.index("M") == 21 and USCC_ALPHABET.index("Y") == 30
    assert uscc_problems(PUBLISHED_EXAMPLE) == []


def test_resident_id_example_by_hand():
    # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2 = 167;
    # 167 mod 11 = 2 -> '10X98765432'[2] = 'X'
    assert resident_id_problems("11010519491231002X") == []


@pytest.mark.parametrize("code", [HUAWEI, PUBLISHED_EXAMPLE, DESIGN_AUTHORITY])
def test_known_valid_codes(code):
    assert uscc_problems(code) == []
    assert id_kind(code) == "USCC"


# --- USCC problems -----------------------------------------------------------

def test_wrong_check_character_names_position_and_expected():
    problems = uscc_problems(HUAWEI[:17] + "A")
    assert problems == ["character 18 'A': check character should be '6' (GB 32100-2015)"]


@pytest.mark.parametrize("code, position", [
    ("I14403001922038216", 1),  # I is not in the alphabet
    ("B14403001922038216", 1),  # no registration authority B
    ("94440300192203821X", 2),  # enterprise registration has no category 4
    ("9144A3001922038216", 5),  # division code must be digits
    ("914403001922038226", 17),  # organisation code check
])
def test_each_rule_names_its_position(code, position):
    problems = uscc_problems(code)
    assert problems, code
    assert int(MESSAGE.match(problems[0]).group(1)) == position


def test_length_and_lowercase():
    assert "length 17" in uscc_problems(HUAWEI[:17])[0]
    assert "lowercase" in uscc_problems(PUBLISHED_EXAMPLE.lower())[0]


@settings(max_examples=300)
@given(regions, serials, kinds)
def test_generated_codes_are_valid(region, serial, kind):
    code = make_uscc(region, serial, *kind)
    assert uscc_problems(code) == [], code
    assert code[:2] == "".join(kind) and code[2:8] == region
    assert id_kind(code) in ("USCC", "RESIDENT_ID")  # an all-digit code can look like an ID


def test_government_codes_and_distinct_serials():
    code = make_uscc("410100", 3, "1", "1")
    assert code.startswith("11410100") and uscc_problems(code) == []
    assert len({make_uscc("410105", n) for n in range(2000)}) == 2000


@settings(max_examples=500)
@given(regions, serials, kinds, st.integers(0, 17),
       st.characters(min_codepoint=0x21, max_codepoint=0x7E))
def test_every_single_character_corruption_is_detected(region, serial, kind, index, new):
    code = make_uscc(region, serial, *kind)
    assume(new != code[index])  # a "corruption" that changes nothing is not drawn
    corrupt = code[:index] + new + code[index + 1:]
    problems = uscc_problems(corrupt)
    assert problems, corrupt
    assert all(MESSAGE.match(p) for p in problems), problems


@pytest.mark.parametrize("code", [HUAWEI, PUBLISHED_EXAMPLE, DESIGN_AUTHORITY])
def test_every_corruption_of_known_codes_is_detected(code):
    for index in range(18):
        for new in USCC_ALPHABET + "IOZSVa-":
            if new != code[index]:
                assert uscc_problems(code[:index] + new + code[index + 1:])


@settings(max_examples=200)
@given(regions, serials, kinds)
def test_adjacent_transpositions_in_the_body_are_always_detected(region, serial, kind):
    # 3**i mod 31 weights differ between neighbours, so swapping two different
    # characters among positions 1-17 always changes the checksum.
    code = make_uscc(region, serial, *kind)
    for i in range(16):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
            assert uscc_problems(swapped), swapped


def test_transpositions_are_mostly_detected():
    seen = caught = 0
    for serial in range(300):
        code = make_uscc("440703", serial)
        for i in range(18):
            for j in range(i + 1, 18):
                if code[i] != code[j]:
                    seen += 1
                    caught += bool(uscc_problems(code[:i] + code[j] + code[i + 1:j] + code[i] + code[j + 1:]))
    assert caught / seen > 0.95, caught / seen


# --- resident ID numbers -------------------------------------------------------

def test_resident_id_invalid_date():
    problems = resident_id_problems("110105199902300021")
    assert any(p.startswith("characters 7-14: the birth date is not a calendar date") for p in problems), problems
    assert not any("1999" in p.replace("11643-1999", "") or "0230" in p for p in problems), problems


def test_resident_id_wrong_check_digit():
    assert resident_id_problems("110105194912310021") == [
        "character 18: the check character does not match characters 1-17 (GB 11643-1999)"]


def test_resident_id_shape_rules():
    assert "uppercase" in resident_id_problems("11010519491231002x")[0]
    assert resident_id_problems("1101051949123100A2")[0].startswith("character 17 'A'")
    assert "length 15" in resident_id_problems("110105491231002")[0]


def test_resident_id_future_birth_only_with_today():
    code = make_resident_id("410105", date(2030, 1, 1), 12)
    assert resident_id_problems(code) == []
    assert resident_id_problems(code, today=date(2025, 1, 1)) == [
        "characters 7-14: the birth date is after today (GB 11643-1999)"]


@settings(max_examples=300)
@given(regions, st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)),
       st.integers(0, 999), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_generated_ids_valid_and_corruptions_detected(region, birth, serial, index, new):
    code = make_resident_id(region, birth, serial)
    assert resident_id_problems(code, today=date(2025, 1, 1)) == []
    assert id_kind(code) == "RESIDENT_ID"
    if new != code[index]:
        assert resident_id_problems(code[:index] + new + code[index + 1:])


def test_id_kind():
    assert id_kind("11010519491231002X") == "RESIDENT_ID"
    assert id_kind("110105199902300021") == "RESIDENT_ID"  # shaped like one, though invalid
    assert id_kind(HUAWEI) == "USCC"
    assert id_kind("12345") is None


def test_generators_reject_bad_input():
    with pytest.raises(ValueError):
        make_uscc("41010", 1)
    with pytest.raises(ValueError):
        make_uscc("410105", 1, "9", "4")
    with pytest.raises(ValueError):
        make_resident_id("410105", date(1990, 1, 1), 1000)
