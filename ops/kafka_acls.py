"""Who may do what on the ledger's Kafka (DESIGN "The broker"): its principals, their ACLs, and
making both so on a broker, as its super user.

The broker runs StandardAuthorizer with `allow.everyone.if.no.acl.found=false`: what no ACL
allows is refused. The principals:

    broker   the brokers themselves (inter-broker and controller traffic), the only super user;
             in the embedded stack also who creates the topics, users and ACLs below
    worker   the worker and its HTTP edge (and, until it goes through the edge, the SDK):
             reads and writes the ledger's topics, creates them if missing, and uses the
             consumer groups and Faust's internal topics, all named credit-ledger...
    auditor  `history`, `report`, `verify`, `rebuild`, `access-log`: reads credit.events,
             credit.digests and credit.access-log, nothing else, and writes nothing; never
             credit.pii-keys (natural persons' data keys, wrapped): what an auditor reads of a
             person is its pseudonym and sealed blobs, and a reader of names asks the worker,
             which logs the read (`personal_info`, projections/access.py)

Anyone else (no credentials, a wrong password, a principal without ACLs) is refused.

    python -m ops.kafka_acls    # a cluster's one-off set-up (ops/deploy/): users, topics, ACLs
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from streams import topics
from streams.kafka_access import AUDITOR, DEV_USERNAMES, WORKER, KafkaAccess, client_config

log = logging.getLogger(__name__)

BROKER_USER = "broker"  # the brokers' own principal: super.users=User:broker, and only it
SCRAM_ITERATIONS = 4096  # what kafka-storage --add-scram uses; each client connection costs that many HMACs

# Names the worker owns beside the topics in streams/topics.py: its consumer groups ("credit-ledger",
# Faust's "credit-ledger-web", the ledger reader's "credit-ledger-reader-<uuid>") and Faust's own topics
# ("credit-ledger-web-__assignor-__leader"; the bench's Faust apps "credit-ledger-bench-...").
WORKER_PREFIX = "credit-ledger"
# The ledger reader's consumers take a group id of this prefix and never join or commit; librdkafka
# still looks the group's coordinator up, which needs the group described.
READER_GROUP_PREFIX = "credit-ledger-reader-"
AUDITED_TOPICS = (topics.EVENTS, topics.DIGESTS, topics.ACCESS_LOG)


def acl_bindings(usernames: dict[str, str]) -> list:
    """Every ACL of the worker's and the auditor's principals (`usernames`: role -> SCRAM user name)."""
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    def allow(user: str, kind, name: str, pattern, *operations) -> list:
        return [AclBinding(kind, name, pattern, f"User:{user}", "*", operation, AclPermissionType.ALLOW)
                for operation in operations]
    literal, prefixed = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    topic_work = (AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE,
                  AclOperation.DESCRIBE_CONFIGS)  # neither ALTER_CONFIGS (retention) nor DELETE: the ledger stays
    worker, auditor = usernames[WORKER], usernames[AUDITOR]
    bindings = []
    for name in topics.ALL:
        bindings += allow(worker, ResourceType.TOPIC, name, literal, *topic_work)
    bindings += allow(worker, ResourceType.TOPIC, WORKER_PREFIX, prefixed, *topic_work)
    bindings += allow(worker, ResourceType.GROUP, WORKER_PREFIX, prefixed, AclOperation.READ, AclOperation.DESCRIBE)
    for name in AUDITED_TOPICS:
        bindings += allow(auditor, ResourceType.TOPIC, name, literal, AclOperation.READ, AclOperation.DESCRIBE)
    bindings += allow(auditor, ResourceType.GROUP, READER_GROUP_PREFIX, prefixed, AclOperation.DESCRIBE)
    return bindings


def ensure_acls(admin_kafka: KafkaAccess, bindings: list, timeout_s: float = 30) -> None:
    """Create the ACLs (one that exists already is left as it is), and wait until the broker enforces
    them: the controller has committed them when create_acls answers, the broker applies them a moment
    later, and a client in between would be refused."""
    from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)

    admin = AdminClient(client_config(admin_kafka, logger=log))
    deadline = time.monotonic() + timeout_s
    _created(admin, bindings, timeout_s, deadline)
    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    while not set(bindings) <= set(admin.describe_acls(every, request_timeout=timeout_s).result()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker at {admin_kafka} does not show the ACLs created {timeout_s} s ago")
        time.sleep(0.1)


def _created(admin, bindings: list, timeout_s: float, deadline: float) -> None:
    """create_acls, again while the answer is lost in transit: on a cluster that has just started, the
    client drops its bootstrap connection for the brokers the metadata names, and a request on it is
    answered _DESTROY_BROKER. Creating an ACL that exists leaves it as it is, so asking again is safe."""
    from confluent_kafka import KafkaError, KafkaException

    lost_in_transit = {KafkaError._DESTROY_BROKER, KafkaError._TRANSPORT, KafkaError._TIMED_OUT}
    while True:
        try:
            for future in admin.create_acls(bindings, request_timeout=timeout_s).values():
                future.result()
            return
        except KafkaException as error:
            if error.args[0].code() not in lost_in_transit or time.monotonic() > deadline:
                raise
            log.info("creating the ACLs again: %s", error.args[0].str())
            time.sleep(0.5)


def ensure_users(admin_kafka: KafkaAccess, passwords: dict[str, str], timeout_s: float = 30) -> None:
    """Give each SCRAM-SHA-512 user (name -> password) that password, creating it if missing."""
    from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    admin = AdminClient(client_config(admin_kafka, logger=log))
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [UserScramCredentialUpsertion(name, info, password.encode()) for name, password in passwords.items()]
    for future in admin.alter_user_scram_credentials(upserts, request_timeout=timeout_s).values():
        future.result()


def set_up_cluster(settings) -> None:
    """A cluster's one-off set-up, as its super user (the settings' SASL user, `broker`): the worker's
    and the auditor's SCRAM users with the passwords in CREDIT_LEDGER_KAFKA_WORKER_PASSWORD_FILE and
    CREDIT_LEDGER_KAFKA_AUDITOR_PASSWORD_FILE, the topics, the ACLs. Idempotent: run at every deploy."""
    admin_kafka = settings.kafka_access()
    passwords, usernames = {}, {}
    for role in (WORKER, AUDITOR):
        usernames[role] = os.environ.get(f"CREDIT_LEDGER_KAFKA_{role.upper()}_USERNAME") or DEV_USERNAMES[role]
        path = os.environ.get(f"CREDIT_LEDGER_KAFKA_{role.upper()}_PASSWORD_FILE")
        if not path:
            sys.exit(f"set CREDIT_LEDGER_KAFKA_{role.upper()}_PASSWORD_FILE: the file holding the {role}'s Kafka password")
        passwords[usernames[role]] = Path(path).read_text(encoding="utf-8").strip()
    ensure_users(admin_kafka, passwords)
    topics.ensure_topics(admin_kafka, partitions=settings.partitions)
    ensure_acls(admin_kafka, acl_bindings(usernames))
    print(f"kafka at {admin_kafka}: users {', '.join(sorted(passwords))}, topics and ACLs in place", flush=True)


def main() -> int:
    from ops.config import load_settings

    set_up_cluster(load_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
