"""A real three-node Apache Kafka (KRaft) cluster on loopback, for `up --brokers 3` and the tests.

Each node is an EmbeddedKafka (ops/embedded_kafka.py) that is broker and controller at once, the three
a quorum of three voters: its own storage (<data dir>/node-N), ports and small heap, the cluster's one
id (<data dir>/cluster-id) and the brokers' one password (<data dir>/broker-credentials.json), the same
SCRAM users (formatted into each storage) and ACLs. The settings are the compose deployment's
(ops/kafka_settings.py): three replicas of every topic, two of them in sync for a write to count.

A node can be killed (SIGKILL) and started again on its storage while the others serve.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from ops.embedded_kafka import BROKER_CREDENTIALS, EmbeddedKafka, _cluster_id, free_port, port_is_free
from streams import topics
from streams.kafka_access import ROLES, KafkaAccess, client_config

NODES_DEFAULT = 3
HEAP_MIB_DEFAULT = 384
CLUSTER_ID_FILE = "cluster-id"
METADATA_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0  # SIGTERM, then SIGKILL: the last node to stop has no quorum to report its shutdown to


class EmbeddedKafkaCluster:
    """`ports`: each node's client port (its controller's is the next one when free), by default free ones."""

    def __init__(self, data_dir: Path, nodes: int = NODES_DEFAULT, ports: list[int] | None = None,
                 heap_mib: int = HEAP_MIB_DEFAULT, credentials: dict | None = None, full_jit: bool = False,
                 log_dir: Path | None = None):
        if not 1 <= nodes <= 9:
            raise ValueError(f"nodes must be 1..9, not {nodes}")
        taken: set[int] = set()
        ports = list(ports) if ports else [_free_port_but(taken) for _ in range(nodes)]
        if len(ports) != nodes or len(set(ports)) != nodes:
            raise ValueError(f"{nodes} distinct ports needed, not {ports}")
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        taken.update(ports)
        controller_ports = []
        for port in ports:  # the next port when free, as a single broker's; all distinct
            controller = port + 1 if port + 1 not in taken and port_is_free(port + 1) else _free_port_but(taken)
            taken.add(controller)
            controller_ports.append(controller)
        voters = ",".join(f"{i}@127.0.0.1:{c}" for i, c in enumerate(controller_ports, 1))
        log_dir = Path(log_dir) if log_dir else self.data_dir
        self.nodes = {i: EmbeddedKafka(self.data_dir / f"node-{i}", port=port, controller_port=controller, node_id=i,
                                       voters=voters, brokers=nodes, cluster_id=self._cluster_id(),
                                       broker_credentials=self.data_dir / BROKER_CREDENTIALS, heap_mib=heap_mib,
                                       log_file=log_dir / f"kafka-node-{i}.log", full_jit=full_jit,
                                       credentials=credentials)
                      for i, (port, controller) in enumerate(zip(ports, controller_ports), 1)}
        self._admin = None  # for the metadata (partitions), made on first use

    def _cluster_id(self) -> str:
        """The cluster's id, made with the first storage and kept beside it: every node is formatted with it."""
        path = self.data_dir / CLUSTER_ID_FILE
        if not path.exists():
            path.write_text(_cluster_id() + "\n")
        return path.read_text().strip()

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes.values())

    @property
    def admin_access(self) -> KafkaAccess:
        """The brokers' own principal, the only super user, reaching any node."""
        return dataclasses.replace(next(iter(self.nodes.values())).admin_access, bootstrap=self.bootstrap)

    def access(self, role: str) -> KafkaAccess:
        """How a client in `role` (streams.kafka_access.ROLES) reaches the cluster."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        return dataclasses.replace(next(iter(self.nodes.values())).access(role), bootstrap=self.bootstrap)

    def __enter__(self) -> EmbeddedKafkaCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout_s: float = 180) -> EmbeddedKafkaCluster:
        """Every node launched, then waited for (none serves before a quorum runs), then the users and ACLs."""
        if self.running() == list(self.nodes):  # started already (`with cluster.start():`)
            return self
        deadline = time.monotonic() + timeout_s
        try:
            formatted = [node.launch(deadline) for node in self.nodes.values()]
            for node in self.nodes.values():
                node.wait_ready(deadline)
            for node, formatted_now in zip(self.nodes.values(), formatted):
                node.reconcile(formatted_now)  # each broker shows the ACLs before a client may meet it
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, node_id: int) -> None:
        """SIGKILL node `node_id`'s JVM."""
        self.nodes[node_id].kill()

    def restart(self, node_id: int, timeout_s: float = 120) -> None:
        """Start node `node_id` again on its storage; back once it serves and the metadata lists it."""
        node = self.nodes[node_id]
        deadline = time.monotonic() + timeout_s
        node.launch(deadline)
        node.wait_ready(deadline)

    def stop(self) -> None:
        """Every node at once: a node stopped after the others could not complete its controlled shutdown
        without a quorum, and would wait out its timeout."""
        stopping = [threading.Thread(target=node.stop, args=(STOP_TIMEOUT_S,)) for node in self.nodes.values()]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()

    def ensure_topics(self, partitions: int = topics.PARTITIONS_DEFAULT, timeout_s: float = 60) -> list[str]:
        """streams.topics.ensure_topics, then until every running node's metadata shows every topic led."""
        from confluent_kafka.admin import AdminClient

        created = topics.ensure_topics(self.admin_access, partitions=partitions, timeout_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        for node_id in self.running():
            admin = AdminClient(client_config(self.nodes[node_id].admin_access))
            while not topics.all_led(admin.list_topics(timeout=METADATA_TIMEOUT_S).topics):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"node {node_id} does not show every topic led after {timeout_s} s")
                time.sleep(0.1)
        return created

    def running(self) -> list[int]:
        return [i for i, node in self.nodes.items() if node.process is not None and node.process.poll() is None]

    def partitions(self, topic: str) -> dict[int, tuple[int, tuple[int, ...], tuple[int, ...]]]:
        """{partition: (leader, replicas, in-sync replicas)} of `topic`, as the cluster's metadata says now."""
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient(client_config(self.admin_access))
        found = self._admin.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics[topic]
        if found.error is not None:
            raise RuntimeError(f"{topic}: {found.error}")
        return {p: (m.leader, tuple(m.replicas), tuple(m.isrs)) for p, m in sorted(found.partitions.items())}

    def fully_in_sync(self, *topic_names: str) -> bool:
        """Whether every partition of these topics has a leader and all its replicas in sync."""
        return all(leader >= 0 and set(isr) == set(replicas)
                   for topic in topic_names for leader, replicas, isr in self.partitions(topic).values())



def _free_port_but(taken: set[int]) -> int:
    """A free port (ops.embedded_kafka.free_port) not among `taken`, which it joins."""
    for _ in range(100):
        port = free_port()
        if port not in taken:
            taken.add(port)
            return port
    raise OSError(f"no free port outside {sorted(taken)}")
