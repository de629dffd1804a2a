"""Check characters of the unified social credit code (GB 32100-2015) and the resident identity number
(GB 11643-1999) against real published codes and against the standards' own arithmetic, written out
here independently of projections/ids.py: the weight tables as literals, a few lines of arithmetic.

The standards
-------------
* GB 11714-1997, the organisation code (USCC positions 9-17): the 8-character body is valued digit by
  digit, letters by their place in the Latin alphabet (A=10 ... Z=35); weights 3 7 9 10 5 8 4 2;
  C9 = 11 - (sum mod 11), written 'X' for 10 and '0' for 11.
* GB 32100-2015, the USCC: 31 characters, 0-9 then A-Y without I, O, Z, S, V, valued 0..30 in that
  order; weights 3**(i-1) mod 31 for positions i = 1..17; C18 = 31 - (sum mod 31), with 31 written '0'.
* GB 11643-1999, the resident identity number (ISO 7064 MOD 11-2): weights 2**(18-i) mod 11 for
  positions i = 1..17; C18 = (12 - (sum mod 11)) mod 11, with 10 written 'X'.
"""
from __future__ import annotations

import random
from datetime import date

import pytest

from projections.ids import (
    id_kind,
    make_resident_id,
    make_uscc,
    org_check_char,
    resident_id_check_char,
    resident_id_problems,
    uscc_check_char,
    uscc_problems,
)

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def org_check(body: str) -> str:
    total = 0
    for ch, weight in zip(body, ORG_WEIGHTS):
        total += (int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10) * weight
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check(first17: str) -> str:
    total = sum(USCC_CHARS.index(ch) * weight for ch, weight in zip(first17, USCC_WEIGHTS))
    return USCC_CHARS[(31 - total % 31) % 31]


def id_check(first17: str) -> str:
    check = (12 - sum(int(ch) * weight for ch, weight in zip(first17, ID_WEIGHTS)) % 11) % 11
    return "X" if check == 10 else str(check)


def test_the_weight_tables_are_the_standards_formulas():
    assert len(USCC_CHARS) == 31 and not set("IOZSV") & set(USCC_CHARS)
    assert USCC_WEIGHTS == [3 ** (i - 1) % 31 for i in range(1, 18)]
    assert ID_WEIGHTS == [2 ** (18 - i) % 11 for i in range(1, 18)]


# --- real published codes ------------------------------------------------------------------------
# Enterprises' codes as printed on their business licences and public registrations (the national
# enterprise credit information publicity system), and the standards' own examples.
PUBLISHED_USCC = [
    ("914403001922038216", "华为技术有限公司: business licence, public registration"),
    ("91440300708461136T", "腾讯科技（深圳）有限公司: public registration"),
    ("9144030010001686XA", "招商银行股份有限公司: public registration; the serialNumber of its EV TLS certificate"),
    ("91110000802100433B", "北京百度网讯科技有限公司: public registration (organisation code 80210043-3)"),
    ("91110108551385082Q", "小米科技有限责任公司: public registration"),
    ("91330100799655058B", "阿里巴巴（中国）有限公司: public registration"),
    ("91440300100012316L", "中国平安保险（集团）股份有限公司: public registration"),
    ("91520000214434146R", "中航重机股份有限公司: public registration (registration no. 520000000005018)"),
    ("91350100M000100Y43", "the example printed in GB 32100-2015"),
]
PUBLISHED_RESIDENT_IDS = [
    ("11010519491231002X", "GB 11643-1999's example: 北京市朝阳区, born 1949-12-31, sequence 002"),
    ("440524188001010014", "GB 11643-1999's example: 广东省汕头市潮阳县, born 1880-01-01, sequence 001"),
]


@pytest.mark.parametrize("code, source", PUBLISHED_USCC)
def test_published_unified_social_credit_codes(code, source):
    # the standards' arithmetic agrees with the printed check characters...
    assert org_check(code[8:16]) == code[16], source
    assert uscc_check(code[:17]) == code[17], source
    # ...and so does the code under test
    assert org_check_char(code[8:16]) == code[16]
    assert uscc_check_char(code[:17]) == code[17]
    assert uscc_problems(code) == []
    assert id_kind(code) == "USCC"


@pytest.mark.parametrize("code, source", PUBLISHED_RESIDENT_IDS)
def test_published_resident_identity_numbers(code, source):
    assert id_check(code[:17]) == code[17], source
    assert resident_id_check_char(code[:17]) == code[17]
    assert resident_id_problems(code, today=date(2025, 1, 1)) == []
    assert id_kind(code) == "RESIDENT_ID"


@pytest.mark.parametrize("code", [c for c, _ in PUBLISHED_USCC + PUBLISHED_RESIDENT_IDS])
def test_any_other_check_character_is_refused_and_the_right_one_named(code):
    validate = uscc_problems if id_kind(code) == "USCC" else resident_id_problems
    alphabet = USCC_CHARS if validate is uscc_problems else "0123456789X"
    for wrong in alphabet:
        if wrong != code[17]:
            problems = validate(code[:17] + wrong)
            if validate is uscc_problems:
                assert problems and problems[-1].startswith(f"character 18 '{wrong}'"), (code, wrong, problems)
                assert f"should be '{code[17]}'" in problems[-1]
            else:  # a resident ID number's check character is neither quoted nor named (issue 28)
                assert problems == ["character 18: the check character does not match characters 1-17 "
                                    "(GB 11643-1999)"], (code, wrong, problems)


# --- by hand ---------------------------------------------------------------------------------------
def test_huawei_by_hand():
    # GB 11714 on 19220382: 1*3 + 9*7 + 2*9 + 2*10 + 0*5 + 3*8 + 8*4 + 2*2 = 164; 164 mod 11 = 10;
    # 11 - 10 = 1
    assert org_check("19220382") == "1" == org_check_char("19220382")
    # GB 32100 on 91440300192203821: 9*1 + 1*3 + 4*9 + 4*27 + 0*19 + 3*26 + 0*16 + 0*17 + 1*20 + 9*29
    # + 2*25 + 2*13 + 0*8 + 3*24 + 8*10 + 2*30 + 1*28 = 831; 831 mod 31 = 25; 31 - 25 = 6
    assert uscc_check("91440300192203821") == "6" == uscc_check_char("91440300192203821")


def test_letters_take_their_latin_place_in_gb_11714_and_their_code_place_in_gb_32100():
    # M000100Y: M = 22 and Y = 34 in GB 11714: 22*3 + 1*5 + 34*2 = 139; 139 mod 11 = 7; 11 - 7 = 4
    assert org_check("M000100Y") == "4" == org_check_char("M000100Y")
    # in GB 32100 M = 21 and Y = 30: 9*1 + 1*3 + 3*9 + 5*27 + 0 + 1*26 + 0 + 0 + 21*20 + 0 + 0 + 0
    # + 1*8 + 0 + 0 + 30*30 + 4*28 = 1640; 1640 mod 31 = 28; 31 - 28 = 3
    assert uscc_check("91350100M000100Y4") == "3" == uscc_check_char("91350100M000100Y4")


def test_the_wrapped_check_characters_by_hand():
    # a sum that is 0 mod 11 gives 11 - 0 = 11, written '0': 00000000 sums to 0; 10000001 to 1*3 + 1*2 = 5
    # (-> 6); 20000003 to 2*3 + 3*2 = 12, 12 mod 11 = 1 (-> 10, written 'X')
    assert org_check_char("00000000") == org_check("00000000") == "0"
    assert org_check_char("10000001") == org_check("10000001") == "6"
    assert org_check_char("20000003") == org_check("20000003") == "X"
    # a sum that is 0 mod 31 gives 31 - 0 = 31, written '0': '1' at position 2 (weight 3) and '1' at
    # position 4 (weight 27) sum to 30 (-> 31 - 30 = 1); one more '1' at position 1 (weight 1): 31 (-> '0')
    assert uscc_check_char("01010000000000000") == uscc_check("01010000000000000") == "1"
    assert uscc_check_char("11010000000000000") == uscc_check("11010000000000000") == "0"
    # GB 11643: all zeros sum to 0 -> (12 - 0) mod 11 = 1; a '1' at position 7 (weight 2) sums to 2
    # -> 10, written 'X'; a '1' at position 8 (weight 1) sums to 1 -> 0
    assert resident_id_check_char("00000000000000000") == id_check("00000000000000000") == "1"
    assert resident_id_check_char("00000010000000000") == id_check("00000010000000000") == "X"
    assert resident_id_check_char("00000001000000000") == id_check("00000001000000000") == "0"


def test_every_check_character_of_the_standards_on_many_bodies():
    # a fixed sequence of random bodies, the check computed both ways; every value of each check
    # character is reached
    rng = random.Random(32100)
    seen_uscc, seen_org, seen_id = set(), set(), set()
    for _ in range(5000):
        first17 = "".join(rng.choice(USCC_CHARS) for _ in range(17))
        body = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8))
        digits = "".join(rng.choice("0123456789") for _ in range(17))
        assert uscc_check_char(first17) == uscc_check(first17), first17
        assert org_check_char(body) == org_check(body), body
        assert resident_id_check_char(digits) == id_check(digits), digits
        seen_uscc.add(uscc_check(first17))
        seen_org.add(org_check(body))
        seen_id.add(id_check(digits))
    assert seen_uscc == set(USCC_CHARS) and seen_org == set("0123456789X") and seen_id == set("0123456789X")


@pytest.mark.parametrize("region, serial, authority, category", [
    ("410105", 0, "9", "1"), ("440703", 77, "9", "2"), ("110105", 12345, "1", "1"), ("630202", 9, "5", "3"),
])
def test_generated_codes_carry_the_standards_check_characters(region, serial, authority, category):
    code = make_uscc(region, serial, authority, category)
    assert org_check(code[8:16]) == code[16] and uscc_check(code[:17]) == code[17], code


def test_generated_resident_ids_carry_the_standards_check_character():
    for serial in (0, 1, 2, 500, 999):
        code = make_resident_id("410105", date(1985, 3, 14), serial)
        assert code[:17] == f"41010519850314{serial:03d}" and id_check(code[:17]) == code[17], code
