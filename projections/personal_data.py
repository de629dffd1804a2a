"""Natural persons' identifiers where they do not belong (个人信息保护, issue 28), pure.

A natural person's name and resident ID number have one place in an event: subject.name and
subject.id_number of a NATURAL_PERSON, which the edge replaces by a keyed pseudonym and seals
(streams/pii.py). Anywhere else they would reach Kafka, every backup and every export in
plaintext, where no erasure can reach them. So the edge looks at every string of a publisher's
new event, keys included, and at every integer:

- a resident ID number (GB 11643-1999: 18 characters, a province code, a birth date that exists,
  the check character right; an `x` counts), alone or inside longer text, in ASCII or full-width
  digits; also a 15-digit number of the first generation (a province code and a 19YYMMDD birth
  date) unless it passes the check of a 15-digit business registration number (注册号, GB/T
  17710 MOD 11,10), which would otherwise be refused once in 28: about 1 old ID number in 10 is
  let through, against none of the registration numbers;
- the natural person's name (subject.name of a NATURAL_PERSON, blanks ignored) inside any other
  string: 当事人张三 in the facts.

Such an event is refused with the rule `personal_identifier`, the field named and the value never
quoted. Refused rather than sealed: the public record (a penalty's facts and decision are shown
under 双公示) must not carry the person's identifiers at all, a sealed field would leave a hole the
public reads as missing data, and the department's export is what has to change (DESIGN: the
publisher fixes its data, the ledger does not edit it).

What is not hit: a unified social credit code (a different check, and in the fields that hold one,
subject.id of an organisation, source.authority_code and payload.grantee, a valid code is never
flagged; in free text an all-digit code passes for an ID number about once in 100,000), decision
numbers and dates (too few digits in a run). An old 15-digit ID number with its sequence code
changed in transcription cannot be told from any other number: none is promised.

Also here: the keyed digest a rejection carries instead of the bytes it refused
(`rejection_digest`), and `masked`, which takes runs of digits out of a value a message quotes.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date

from projections.ids import resident_id_check_char, uscc_problems

RULE = "personal_identifier"
RULE_MEANING = ("a natural person's resident ID number (GB 11643-1999, also the 15-digit first "
                "generation) or name (subject.name of a NATURAL_PERSON) in a field other than "
                "subject.id_number and subject.name: never quoted, the event is refused")

# First two digits of a resident ID number: the province (GB/T 2260), 71 台湾, 81 香港, 82 澳门, 83 台湾居民
# (居住证), 91 外国人永久居留身份证 (2023 form).
PROVINCE_CODES = frozenset(("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
                            "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
                            "63", "64", "65", "71", "81", "82", "83", "91"))
BIRTH_YEAR_MIN = 1880  # no one alive was born earlier
USCC_FIELDS = frozenset(("source.authority_code", "payload.grantee"))  # subject.id too, of an organisation
MIN_NAME_CHARS = 2  # a Chinese name; a name in Latin letters needs more to mean anything
MIN_LATIN_NAME_CHARS = 5
STRINGS_SCANNED_MAX = 5_000  # an event is at most 64 KiB: far more than any has
DEPTH_MAX = 40
DATES_READ_MAX = 64  # of a payload (a type has at most a few dozen fields)
# runs of digits, ASCII or full-width, with an optional X after them
_DIGIT_RUN = re.compile("[0-9\uff10-\uff19]{15,}[Xx\uff38\uff58]?")
_ANY_DIGIT_RUN = re.compile("[0-9\uff10-\uff19]{4,}")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789XX", "")
_BLANKS = re.compile(r"\s+")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DIGEST_CONTEXT = b"credit-ledger rejection digest v1\x00"  # never the same MAC as a pseudonym of the same bytes


def rejection_digest(key: bytes, raw: bytes) -> bytes:
    """HMAC-SHA256 of what was refused, under a key derived from the deployment's pseudonym key: whoever holds
    the input can have it matched to its rejection; without the key nobody can test guesses of an ID number."""
    derived = hmac.new(key, _DIGEST_CONTEXT, hashlib.sha256).digest()
    return hmac.new(derived, raw, hashlib.sha256).digest()


def masked(text: str) -> str:
    """`text` with every run of 4 or more digits replaced by '…': a problem may quote the shape of a
    value, never an identifier's digits (nor a birth date's)."""
    return _ANY_DIGIT_RUN.sub("…", text)


def without_resident_ids(text: str) -> str:
    """`text` with every run of digits that holds a resident ID number replaced by '…': the last guard of a
    rejection's reasons (the fold's quote record ids and decision numbers, which the edge has already checked)."""
    if not _DIGIT_RUN.search(text):
        return text
    return _DIGIT_RUN.sub(lambda m: "…" if holds_resident_id(m.group()) else m.group(), text)


def _valid_birth(yyyymmdd: str, today: date | None) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return born.year >= BIRTH_YEAR_MIN and (today is None or born <= today)


def is_resident_id(code: str, today: date | None = None, document_dates: frozenset[str] = frozenset()) -> bool:
    """Whether `code` (18 characters, ASCII) is a resident ID number that may be someone's. One whose birth
    date (YYYYMMDD) is in `document_dates` is taken for a document number of that day instead: a
    施工许可证编号 is region, date of issue and a serial, the shape of an ID number, and 1 in 11 of them
    has its check character right too."""
    return (len(code) == 18 and code[:17].isdigit() and code[:2] in PROVINCE_CODES
            and _valid_birth(code[6:14], today) and resident_id_check_char(code[:17]) == code[17].upper()
            and code[6:14] not in document_dates)


def _is_old_resident_id(code: str, today: date | None) -> bool:
    return (code[:2] in PROVINCE_CODES and _valid_birth("19" + code[6:12], today)
            and not _registration_number_checks(code))


def _registration_number_checks(code: str) -> bool:
    """GB/T 17710 MOD 11,10, the check digit of a 15-digit business registration number (注册号)."""
    carry = 10
    for digit in code[:14]:
        carry = ((carry + int(digit)) % 10 or 10) * 2 % 11
    return (11 - carry) % 10 == int(code[14])


def holds_resident_id(text: str, today: date | None = None, document_dates: frozenset[str] = frozenset()) -> bool:
    """Whether `text` holds a resident ID number anywhere: an 18-character window of a run of digits that
    is one, or a 15-digit run of its own that is a first-generation one (`is_resident_id`: document_dates)."""
    for match in _DIGIT_RUN.finditer(text):
        run = match.group().translate(_FULL_WIDTH)
        if len(run) == 15 and _is_old_resident_id(run, today):
            return True
        for start in range(len(run) - 17):
            if is_resident_id(run[start:start + 18], today, document_dates):
                return True
    return False


def _plain(text: str) -> str:
    return _BLANKS.sub("", unicodedata.normalize("NFKC", text))


def _person_name(raw: dict) -> str | None:
    subject = raw.get("subject")
    if not isinstance(subject, dict) or subject.get("kind") != "NATURAL_PERSON" or not isinstance(subject.get("name"), str):
        return None
    name = _plain(subject["name"])
    least = MIN_LATIN_NAME_CHARS if name.isascii() else MIN_NAME_CHARS
    return name if len(name) >= least else None


def _strings(raw: dict):
    """(field path, text or int, is a key) of every string, key and integer in `raw`, bounded."""
    pending, seen = [(raw, "", 0)], 0
    while pending and seen < STRINGS_SCANNED_MAX:
        item, path, depth = pending.pop()
        seen += 1
        if isinstance(item, str):
            yield path, item, False
        elif isinstance(item, int) and not isinstance(item, bool):
            yield path, item, False
        elif isinstance(item, dict) and depth < DEPTH_MAX:
            for key, child in item.items():
                if isinstance(key, str):
                    yield path or "$", key, True
                    pending.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list) and depth < DEPTH_MAX:
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def personal_identifier_problems(raw: dict, today: date | None = None) -> list[tuple[str, str]]:
    """(field, message) for each string of `raw` (an event's JSON form) that holds a resident ID number or
    the natural person's name where neither belongs; at most one per field. The field is the path of the
    value, or of the object whose key holds it; an unusual key is not spelled out."""
    if not isinstance(raw, dict):
        return []
    subject = raw.get("subject") if isinstance(raw.get("subject"), dict) else {}
    natural = subject.get("kind") == "NATURAL_PERSON"
    name, dates = _person_name(raw), _event_dates(raw)
    found: dict[str, str] = {}
    for path, value, is_key in _strings(raw):
        if not is_key and (path == "subject.id_number" or path == "subject.name" and natural):
            continue  # their place: pseudonymised and sealed by the edge (an organisation's id_number is refused)
        problem = _identifier_problem(path, value, is_key, natural, name, today, dates)
        if problem is not None:  # the path is shown only then: building it for every string cost 1/3 of the edge
            found.setdefault(_shown_path(path), problem)
    return list(found.items())


def _identifier_problem(path: str, value, is_key: bool, natural: bool, name: str | None, today: date | None,
                        dates: frozenset[str]) -> str | None:
    if isinstance(value, int):
        if 10**17 <= value < 10**18 and is_resident_id(str(value), today, dates):
            return "an integer that is a resident ID number (GB 11643-1999)"
        return None
    what = "a key" if is_key else "the value"
    if holds_resident_id(value, today, dates) and not (not is_key and _uscc_field(path, natural) and _valid_uscc(value)):
        return (f"{what} holds a resident ID number (GB 11643-1999); a natural person's ID number goes "
                "in subject.id_number of a NATURAL_PERSON only, which the ledger pseudonymises")
    if name is not None and name in _plain(value):
        return (f"{what} holds the natural person's name (subject.name); it goes in subject.name only, "
                "which the ledger seals: refer to the person as 当事人")
    return None


def _event_dates(raw: dict) -> frozenset[str]:
    """The event's own dates as YYYYMMDD: occurred_on and the payload's dates (a document number's date)."""
    payload = raw.get("payload") if isinstance(raw.get("payload"), dict) else {}
    values = [raw.get("occurred_on"), *list(payload.values())[:DATES_READ_MAX]]
    return frozenset(v[:4] + v[5:7] + v[8:10] for v in values if isinstance(v, str) and _ISO_DATE.fullmatch(v))


def _uscc_field(path: str, natural: bool) -> bool:
    return path in USCC_FIELDS or (path == "subject.id" and not natural)


def _valid_uscc(value: str) -> bool:
    return len(value) == 18 and not uscc_problems(value)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def _shown_path(path: str) -> str:
    """A field path with every part that is not a plain name (letters, digits, _) or a list index replaced
    by '…', and digit runs masked: a key may be what leaks. The event itself, where a key at the top is
    found, is '$' (as every other rule names it)."""
    if path == "$":
        return path
    parts = []
    for part in path.split("."):
        head, bracket, rest = part.partition("[")
        parts.append((masked(head) if _PLAIN_KEY.fullmatch(head) else "…") + bracket + rest)
    return ".".join(parts)
