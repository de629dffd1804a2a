"""Chinese identifiers: validation and generation, stdlib only.

- USCC, the unified social credit code (统一社会信用代码), GB 32100-2015;
  its positions 9-17 are the organisation code of GB 11714-1997.
- Resident identity number (公民身份号码), GB 11643-1999.

Validators return a list of problems in English, each naming the 1-based
character position, the offending character and the rule; an empty list means
valid. A resident ID number's problems quote no digit of it: not its birth date,
not its check character, nor the one expected (which would turn a typo into
somebody else's valid number); a character that is not a digit is named, as it
tells nothing of the person. Generators make valid codes for tests and demo data.
"""
from __future__ import annotations

import functools
import operator
from datetime import date
from typing import Literal

# The 31 characters of GB 32100: digits and capitals without I, O, Z, S, V.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_CHARS = frozenset(USCC_ALPHABET)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3**i mod 31

# GB 11714 values letters by their place in the full Latin alphabet (A=10 ... Z=35),
# not by their place in the USCC alphabet.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2**(17-i) mod 11
_ID_CHECK = "10X98765432"  # indexed by sum mod 11

# Position 1 registration authority -> position 2 category codes (GB 32100-2015
# Appendix A), widened by the categories the national code centre added later
# (3-6 商事调解组织, 5-4/5-5 村民/居民委员会, 8-2 非法人工会, 9-9, G 公安, J 住建, Q 侨联),
# because a validator that rejects real codes is worse than one a little too lenient.
USCC_CATEGORIES: dict[str, str] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 群众团体, 其他
    "2": "19",  # 外交: 外国常驻新闻机构, 其他
    "3": "1234569",  # 司法行政: 律所, 公证处, 基层法律服务所, 司法鉴定, 仲裁委员会, 商事调解, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "123459",  # 民政: 社会团体, 民办非企业单位, 基金会, 村委会, 居委会, 其他
    "6": "129",  # 旅游: 外国/港澳台旅游部门常驻代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "129",  # 工会: 基层工会, 非法人工会组织, 其他
    "9": "1239",  # 工商/市场监管: 企业, 个体工商户, 农民专业合作社, 其他
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "G": "19",  # 公安: 境外非政府组织代表机构, 其他
    "J": "19",  # 住房和城乡建设: 业主大会, 其他
    "N": "1239",  # 农业农村: 组级/村级/乡镇级集体经济组织, 其他
    "Q": "1239",  # 侨联: 区县级/乡镇级/村级侨联组织, 其他
    "Y": "1",  # 其他
}

USCC_STD = "GB 32100-2015"
ORG_STD = "GB 11714-1997"
ID_STD = "GB 11643-1999"


def _problem(pos: int, ch: str, rule: str, std: str) -> str:
    if ch.isdigit() and not ch.isascii():  # not an ASCII digit (those are never wrong here): one a message would spell a number out
        return f"character {pos}, a digit of another script than ASCII 0-9: {rule} ({std})"
    shown = f"'{ch}'" if ch.isprintable() else repr(ch)  # always single-quoted
    return f"character {pos} {shown}: {rule} ({std})"


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


# every character a body may hold, valued once (the checks run for each new subject the fold sees)
_ORG_VALUE = {ch: _org_value(ch) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_ORG_CHECK = "0123456789X0"  # indexed by 11 - sum mod 11 (1..11): 10 -> 'X', 11 -> '0'


def org_check_char(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    assert len(body) == 8, body
    values = [_ORG_VALUE[ch] if ch in _ORG_VALUE else _org_value(ch) for ch in body]
    return _ORG_CHECK[11 - sum(map(operator.mul, values, _ORG_WEIGHTS)) % 11]


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (position 18) of the first 17 characters."""
    assert len(first17) == 17, first17
    check = 31 - sum(map(operator.mul, map(_USCC_VALUE.__getitem__, first17), _USCC_WEIGHTS)) % 31
    return USCC_ALPHABET[check % 31]  # 31 -> '0'


def uscc_problems(code: str) -> list[str]:
    """Every rule of GB 32100 (and GB 11714 for positions 9-17) that `code` breaks."""
    if len(code) != 18:
        return [f"length {len(code)}: a unified social credit code has 18 characters ({USCC_STD})"]
    return list(_uscc_problems(code))


# Every event checks its subject's and its authority's codes, and a replay checks them again:
# the same few thousand codes over and over. Bounded; only 18-character codes reach it.
@functools.lru_cache(maxsize=65_536)
def _uscc_problems(code: str) -> tuple[str, ...]:
    if not _USCC_CHARS.issuperset(code):  # the position rules and checksums make no sense on foreign characters
        return tuple(_problem(pos, ch, "lowercase letters are not allowed" if ch.isalpha() and ch.upper() in _USCC_VALUE
                              else "not in the code alphabet (digits and capitals except I, O, Z, S, V)", USCC_STD)
                     for pos, ch in enumerate(code, start=1) if ch not in _USCC_VALUE)
    problems = []
    authority, category = code[0], code[1]
    if authority not in USCC_CATEGORIES:
        problems.append(_problem(1, authority, "not a registration authority code", USCC_STD))
    elif category not in USCC_CATEGORIES[authority]:
        allowed = ", ".join(USCC_CATEGORIES[authority])
        problems.append(_problem(2, category, f"not a category of registration authority "
                                 f"{authority!r} (allowed: {allowed})", USCC_STD))
    if not code[2:8].isdigit():
        problems += [_problem(pos, code[pos - 1], "the administrative division code (positions 3-8, GB/T 2260) "
                              "must be digits", USCC_STD) for pos in range(3, 9) if not code[pos - 1].isdigit()]
    org = code[8:17]
    expected_org = org_check_char(org[:8])
    if org[8] != expected_org:
        problems.append(_problem(17, org[8], f"organisation code check character should be "
                                 f"{expected_org!r}", ORG_STD))
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        problems.append(_problem(18, code[17], f"check character should be {expected!r}", USCC_STD))
    return tuple(problems)


def _parse_birth(digits8: str) -> date | None:
    try:
        return date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        return None


def resident_id_check_char(first17: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    assert len(first17) == 17 and first17.isdigit(), first17
    return _ID_CHECK[sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS)) % 11]


def resident_id_problems(code: str, today: date | None = None) -> list[str]:
    """Every rule of GB 11643 that `code` breaks; with `today`, also a birth date after it."""
    if len(code) != 18:
        return [f"length {len(code)}: a resident identity number has 18 characters ({ID_STD})"]
    problems = []
    for pos, ch in enumerate(code[:17], start=1):
        if not ("0" <= ch <= "9"):
            problems.append(_problem(pos, ch, "positions 1-17 must be digits", ID_STD))
    last = code[17]
    if last == "x":
        problems.append(_problem(18, last, "the check character X must be uppercase", ID_STD))
    elif not ("0" <= last <= "9" or last == "X"):
        problems.append(_problem(18, last, "the check character must be a digit or X", ID_STD))
    if problems:
        return problems
    birth = _parse_birth(code[6:14])
    if birth is None:
        problems.append(f"characters 7-14: the birth date is not a calendar date ({ID_STD})")
    elif today is not None and birth > today:
        problems.append(f"characters 7-14: the birth date is after today ({ID_STD})")
    if last != resident_id_check_char(code[:17]):
        problems.append(f"character 18: the check character does not match characters 1-17 ({ID_STD})")
    return problems


def id_kind(code: str) -> Literal["USCC", "RESIDENT_ID"] | None:
    """Which identifier `code` is meant to be, by shape only (it may still be invalid)."""
    if len(code) != 18:
        return None
    digits17 = code[:17].isascii() and code[:17].isdigit()
    year, month, day = code[6:10], code[10:12], code[12:14]
    # A date-like birth field is what tells an ID number from an all-digit USCC.
    if digits17 and year[:2] in ("18", "19", "20") and "01" <= month <= "12" and "01" <= day <= "31":
        return "RESIDENT_ID"
    return "USCC"


def _base(n: int, alphabet: str, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(reversed(out))


def make_uscc(region_code: str, serial: int, authority: str = "9", category: str = "1") -> str:
    """A valid USCC, deterministic in its arguments and distinct for distinct serials.

    Enterprises (authority 9) get a post-2015 style body "MA" + 6 characters; other
    authorities an all-digit body like the old organisation codes of 机关.
    """
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise ValueError(f"region_code must be 6 digits, got {region_code!r}")
    if category not in USCC_CATEGORIES.get(authority, ""):
        raise ValueError(f"no category {category!r} under registration authority {authority!r}")
    if serial < 0:
        raise ValueError("serial must not be negative")
    # An affine map with a multiplier coprime to the modulus spreads serials
    # over the space without collisions.
    if authority == "9":
        space = 31**6
        body = "MA" + _base((serial * 387_420_489 + 104_729) % space, USCC_ALPHABET, 6)
    else:
        space = 10**8
        body = _base((serial * 387_420_489 + 104_729) % space, "0123456789", 8)
    if serial >= space:
        raise ValueError(f"serial must be below {space}")
    first17 = authority + category + region_code + body + org_check_char(body)
    return first17 + uscc_check_char(first17)


def make_resident_id(region_code: str, birth: date, serial: int) -> str:
    """A valid resident identity number; `serial` 0-999 is the sequence code (odd: male)."""
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise ValueError(f"region_code must be 6 digits, got {region_code!r}")
    if not 0 <= serial <= 999:
        raise ValueError("serial must be 0-999")
    first17 = f"{region_code}{birth:%Y%m%d}{serial:03d}"
    return first17 + resident_id_check_char(first17)
