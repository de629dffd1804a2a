"""`credit-ledger erase SUBJECT --reason ...`: a natural person's personal information erased for good
(个人信息删除, issue 28), by the worker that receives POST /subjects/{id}/personal-info/erase (streams/routes_audit.py):

1. the gate: only an admin (the credit office) may (projections.access: "erase_personal_info"); the act is
   written to credit.access-log, with its reason, before anything is done;
2. the deployment's key store (streams/key_store.py) erases the subject's keys: every process, on any data
   dir, can no longer unseal its name and ID number;
3. a PersonalInfoErased event goes to credit.events, carrying none of the data: the file records that the
   erasure happened, folds on, and keeps its grade.

Asked again, it erases nothing more and writes the same event (same id, same content from the erasure marker):
the fold takes it as a duplicate. The subject need not be folded by the worker asked: the store is shared, and
the event reaches the worker that folds the subject's partition.
"""
from __future__ import annotations

import json
import re
import uuid
import unicodedata
from datetime import datetime

from projections.canonical import canonical_bytes, instant_text
from projections.catalogue import EVENT_TYPES, PERSONAL_INFO_ERASED
from projections.personal_data import holds_resident_id
from projections.policy import Policy
from projections.pseudonym import PSEUDONYM_HEX_CHARS, PSEUDONYM_PREFIX
from projections.validate import TIMER_SYSTEM, Problem
from streams.key_store import REASON_CHARS_MAX as ERASURE_REASON_CHARS_MAX

ERASE_BODY_BYTES_MAX = 8 * 1024  # {"reason": 500 characters}, escaped
ERASED_EVENT = PERSONAL_INFO_ERASED
# The event of a subject's erasure has one id: erasing twice writes one event.
ERASURE_NAMESPACE = uuid.UUID("5d0c3a52-2f0e-4b8c-9a61-70657273616c")
CREDIT_OFFICE_NAME = "社会信用体系建设牵头部门（信用办）"
_PSEUDONYM_RE = re.compile(re.escape(PSEUDONYM_PREFIX) + f"[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}", re.ASCII)


def erase_problems(subject_id: str, body: bytes | None) -> tuple[str | None, list[Problem]]:
    """(the reason, []) for a well-formed request to erase `subject_id`, else (None, why not)."""
    if not _PSEUDONYM_RE.fullmatch(subject_id):
        return None, [Problem("subject_id", "pseudonym", f"{subject_id[:80]!r} is not a natural person's pseudonym "
                                                         f"({PSEUDONYM_PREFIX} and {PSEUDONYM_HEX_CHARS} hex digits): "
                                                         "only natural persons have personal information sealed")]
    if body is None:
        return None, [Problem("$", "size_limit", f"the body is larger than {ERASE_BODY_BYTES_MAX} bytes")]
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        request = None
    reason = request.get("reason") if isinstance(request, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        return None, [Problem("reason", "required", 'a JSON object {"reason": "..."}: why (the legal ground, the request)')]
    reason = reason.strip()
    if len(reason) > ERASURE_REASON_CHARS_MAX:
        return None, [Problem("reason", "max_length",
                              f"{len(reason)} characters, the limit is {ERASURE_REASON_CHARS_MAX}")]
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in reason):
        return None, [Problem("reason", "text", "one line of text, without control characters")]
    if holds_resident_id(reason):  # the reason goes to credit.access-log and into the PersonalInfoErased event
        return None, [Problem("reason", "personal_identifier", "holds a resident ID number: the erasure names the "
                                                               "person by the pseudonym in its path only")]
    return reason, []


def erasure_event(subject_id: str, marker: dict, now: datetime, policy: Policy) -> dict:
    """The PersonalInfoErased event (JSON form, to validate with allow_system) of the erasure `marker` (the key
    store's {erased_at, reason, requested_by, keys_erased}), recorded at `now` on the ledger's clock, under the
    credit office of `policy`. Everything but recorded_at comes from the marker: a second erase repeats it."""
    offices = sorted(policy.credit_office)
    assert offices, "the policy names a credit office"
    today = instant_text(now)[:10]
    payload = {"reason": marker["reason"], "requested_by": marker["requested_by"],
               "keys_erased": marker["keys_erased"]}
    return {"event_id": str(uuid.uuid5(ERASURE_NAMESPACE, canonical_bytes([subject_id, marker["erased_at"]]).decode())),
            "type": ERASED_EVENT, "subject": {"id": subject_id, "kind": "NATURAL_PERSON"},
            "source": {"authority_code": offices[0], "authority_name": CREDIT_OFFICE_NAME, "system": TIMER_SYSTEM},
            "occurred_on": min(marker["erased_at"][:10], today), "recorded_at": instant_text(now),
            "classification": EVENT_TYPES[ERASED_EVENT].default_classification, "payload": payload}
