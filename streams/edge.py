"""The ledger's edge, one function for every way in (the SDK, `credit-ledger publish`, POST /events).

    event, problems = accept_event(raw, ctx, principal=principal, key_store=key_store)

1. access: may `principal` publish this event (projections.access.publish_problems)? A
   publisher is bound to its authority. Refused events get only these problems: someone not
   allowed to publish learns nothing about the data. `access.forbidden(problems)` tells a
   refusal (HTTP 403) from invalid data (HTTP 422).
2. JSON's own bounds (projections.json_input.value_problems): nesting, lone surrogates, NaN,
   Infinity, integers beyond 64 bits, values of no JSON type (an SDK caller's dict); text comes in
   through projections.json_input.load_json, which checks the same;
3. validation (projections.validate.validate_event): canonical form, natural persons
   pseudonymised;
4. sealing (streams.pii.seal_personal_info): with a key store, a natural person's name and
   ID number go into subject.pii, encrypted; without one they are dropped.

Nothing of a natural person reaches Kafka in plaintext on any of these paths.
"""
from __future__ import annotations

from projections.access import OPERATOR, Principal, publish_problems
from projections.json_input import value_problems
from projections.validate import EdgeContext, Problem, validate_event
from streams.pii import KeyStore, seal_personal_info


def accept_event(raw, ctx: EdgeContext, *, principal: Principal = OPERATOR,
                 key_store: KeyStore | None = None) -> tuple[dict | None, list[Problem]]:
    """(the event to write, []) or (None, every problem). Raises streams.pii.KeyStoreError when
    the key store fails: the event is valid, the ledger cannot take it now (HTTP 503)."""
    refused = publish_problems(principal, raw)
    if refused:
        return None, refused
    problems = value_problems(raw)
    if problems:
        return None, problems
    event, problems = validate_event(raw, ctx)
    if problems:
        return None, problems
    return seal_personal_info(raw, event, key_store), []
