"""The dashboard's memory of what just happened: bounded buffers the ledger fold feeds after each batch
(`observe`), seeded at start from the topics' tails (`seed`, streams/dashboard_tails.py).

Recent grade changes, black-list entries and overdue deadlines (RECENT_MAX each), per-second event
counts (RATE_HISTORY_S), and the names of authorities and subjects the lists show. Nothing here grows
with the ledger: every buffer has its `_MAX`. No I/O but the store's reads of a subject's name."""
from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from projections.canonical import instant_text
from projections.deadlines import KIND_LABELS_ZH
from projections.records import ACTIVE, base_status, own_key
from projections.watch import Blacklisted, DeadlineMissed, ListingEnded, watched
from streams.partitioner import partition_of
from streams.report import EVENT_TYPES_ZH, LIST_KINDS_ZH

if TYPE_CHECKING:
    from streams.dashboard_tails import Tails

RATE_HISTORY_S = 120  # per-second event counts kept for the chart
RECENT_MAX = 100  # grade changes, black-list entries, overdue deadlines kept in memory, each
REASON_CHARS_MAX = 80  # of a list entry's reason (the credit file has it whole)
AUTHORITY_NAMES_MAX = 10_000  # authority code -> name, learnt from the events
SUBJECT_NAMES_MAX = 2_000  # subject id -> (kind, name), for the deadlines read from the index
REJECTED_KEY = "_rejected"  # rejections counted in the per-second buckets next to the event types


class DashboardFeed:
    def __init__(self, store, clock, monotonic_s: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock  # the ledger's (fast in a demo): the instant of a grade change
        self.monotonic_s = monotonic_s  # real seconds: the per-second buckets
        self.per_second: deque[tuple[int, Counter]] = deque(maxlen=RATE_HISTORY_S)  # (monotonic second, counts)
        self.grade_changes: deque[dict] = deque(maxlen=RECENT_MAX)
        self.blacklist: deque[dict] = deque(maxlen=RECENT_MAX)
        self.overdue: deque[dict] = deque(maxlen=RECENT_MAX)
        self.authority_names: OrderedDict[str, str] = OrderedDict()
        self.subject_names: OrderedDict[str, tuple[str, str | None]] = OrderedDict()

    # --- fed by the ledger fold ---------------------------------------------------------------
    def observe(self, batch) -> None:
        """Take what one committed batch (streams.ledger.Batch) changed into the bounded buffers."""
        counts = self._bucket(int(self.monotonic_s()))
        at = instant_text(self.clock.now())
        for _, _, entry in batch.history:
            event = entry["event"]
            counts[event["type"]] += 1
            self._note_event(event)
        if batch.rejections:
            counts[REJECTED_KEY] += len(batch.rejections)
        for change in batch.grade_changes:
            self.grade_changes.append(grade_item({**change, "at": at}, batch.subject_of(change["subject_id"])))

    def _bucket(self, second: int) -> Counter:
        if not self.per_second or self.per_second[-1][0] != second:
            self.per_second.append((second, Counter()))
        return self.per_second[-1][1]

    def _note_event(self, event: dict) -> None:
        source, subject = event["source"], event["subject"]
        if source.get("authority_name"):
            remember(self.authority_names, source["authority_code"], source["authority_name"], AUTHORITY_NAMES_MAX)
        if subject.get("name"):
            remember(self.subject_names, subject["id"], (subject["kind"], subject["name"]), SUBJECT_NAMES_MAX)
        noted = watched(event)  # projections/watch.py
        if isinstance(noted, Blacklisted):
            self.blacklist.append({**self._subject(subject), "at": event["recorded_at"], "event_id": event["event_id"],
                                   "entry_id": noted.entry_id, "authority_code": noted.authority_code,
                                   "list_kind": noted.list_kind,
                                   "list_label": LIST_KINDS_ZH.get(noted.list_kind, noted.list_kind),
                                   "reason": noted.reason[:REASON_CHARS_MAX], "occurred_on": event["occurred_on"],
                                   "term_until": noted.term_until, "active": True})
        elif isinstance(noted, ListingEnded):
            for item in self.blacklist:
                # an entry is its listing authority's, which alone ends it (records: not_record_authority)
                if (item["subject_id"], item["entry_id"], item["authority_code"]) == (
                        subject["id"], noted.entry_id, noted.authority_code):
                    item["active"] = False
        elif isinstance(noted, DeadlineMissed):
            self.overdue.append({**self._subject(subject), "at": event["recorded_at"], "event_id": event["event_id"],
                                 "kind": noted.kind, "label": KIND_LABELS_ZH.get(noted.kind, noted.kind),
                                 "ref": noted.ref, "due_on": noted.due_on})

    def _subject(self, subject: dict) -> dict:
        """A subject as the lists show it: id, kind and (organisations only) its name."""
        kind, name = subject.get("kind"), subject.get("name")
        if name is None:
            kind, name = self.subject_name(subject["id"], kind)
        return {"subject_id": subject["id"], "subject_kind": kind, "name": name}

    def subject_name(self, subject_id: str, kind: str | None = None) -> tuple[str | None, str | None]:
        """(kind, name) of a subject, remembered from its events or read from the store; natural persons
        have no name."""
        known = self.subject_names.get(subject_id)
        if known is None:
            state = self.store.get(subject_id)
            if state is None:
                return kind, None
            known = (state["subject"]["kind"], state["subject"].get("name"))
            remember(self.subject_names, subject_id, known, SUBJECT_NAMES_MAX)
        return known

    # --- seeded at start -----------------------------------------------------------------------
    def seed(self, tails: Tails) -> None:
        """Put what the topics' tails hold before what the fold has added since. Only what the store has
        folded is taken: the fold shows the rest as it goes (a fresh store re-folds the whole log)."""
        applied = self.store.applied_offsets()
        for code, name in tails.authorities.items():
            self.authority_names.setdefault(code, name)

        def folded(partition: int, offset: int) -> bool:
            return offset <= applied.get(partition, -1)
        grade_changes = [c for c in tails.grade_changes if c["offset"] < 0  # < 0: a policy sweep, not an event
                         or folded(partition_of(c["subject_id"], tails.partitions), c["offset"])]
        events = [event for partition, offset, event in tails.events if folded(partition, offset)]
        live_changes, live_blacklist, live_overdue = list(self.grade_changes), list(self.blacklist), list(self.overdue)
        self.grade_changes.clear()
        self.blacklist.clear()
        self.overdue.clear()
        for change in grade_changes:
            kind, name = self.subject_name(change["subject_id"])
            self.grade_changes.append(grade_item(change, {"kind": kind, "name": name}))
        for event in events:
            self._note_event(event)
        for item in self.blacklist:  # the tail may hold an entry the fold rejected, or one ended since
            state = self.store.get(item["subject_id"])
            entry = (state or {}).get("records", {}).get("lists", {}).get(
                own_key(state or {}, item["authority_code"], item["entry_id"]))
            item["active"] = entry is not None and base_status(entry) == ACTIVE
        merge(self.grade_changes, live_changes, key=lambda c: (c["subject_id"], c["cause_event_id"], c["to_score"]))
        merge(self.blacklist, live_blacklist, key=lambda item: item["event_id"])
        merge(self.overdue, live_overdue, key=lambda item: item["event_id"])


def remember(cache: OrderedDict, key, value, limit: int) -> None:
    """cache[key] = value, the newest last; the oldest go beyond `limit` entries."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def merge(buffer: deque, live: list, key) -> None:
    """Add to `buffer` the items of `live` whose key it does not hold yet, in their order."""
    seen = {key(item) for item in buffer}
    buffer.extend(item for item in live if key(item) not in seen)


def grade_item(change: dict, subject: dict) -> dict:
    """A GradeChanged as the list of recent grade changes shows it."""
    before, after = change.get("from_letter"), change["to_letter"]
    return {"at": change["at"], "subject_id": change["subject_id"], "subject_kind": subject.get("kind"),
            "name": subject.get("name"), "from_letter": before, "to_letter": after,
            "from_score": change.get("from_score"), "to_score": change["to_score"],
            "cause": change["cause"], "cause_event_id": change.get("cause_event_id"),
            "cause_label": EVENT_TYPES_ZH.get(change["cause"], change["cause"]),
            "downgrade": before is not None and after > before,  # A is best, D worst
            "upgrade": before is not None and after < before,
            "score_delta": change["to_score"] - change["from_score"] if change.get("from_score") is not None else None}
