"""A Redis Cluster on one machine for tests and benchmarks: `shards` primaries (no replicas), each
the private `redis-server` binary with `cluster-enabled yes`, locked down like `RedisServer`.

thinkstream's user may also read the cluster's layout (a cluster client asks a node which node
holds which slots); an `admin` user, whose password never leaves this object, assigns the slots
and introduces the nodes to each other (CLUSTER ADDSLOTS, CLUSTER MEET), as `redis-cli --cluster
create` would.
"""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from redis import Redis
from redis.exceptions import RedisError

from services.runtime.redis_server import ACL_RULES, USER, RedisServer, free_port

SLOTS = 16384
READY_TIMEOUT_S = 20.0
ADMIN = "admin"
LAYOUT_RULES = "+cluster|slots +cluster|nodes +cluster|info +cluster|shards +cluster|myid +readonly +asking"


BUS_OFFSET = 10000
"""A node also listens on its port + 10000 (the cluster bus)."""


def cluster_port() -> int:
    """A free port whose bus port is free too (an ephemeral port above 55535 has none)."""
    while True:
        port = free_port()
        if port + BUS_OFFSET > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
        return port


class ClusterNode(RedisServer):
    def __init__(self, data_dir: Path, *, password: str, admin_password: str) -> None:
        super().__init__(data_dir, password=password, port=cluster_port())
        self._admin_password = admin_password

    def config(self) -> str:
        lines = [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 5000",
            f"user {ADMIN} on >{self._admin_password} ~* &* +@all",
        ]
        # thinkstream's user, as `RedisServer` defines it, may also read the layout.
        base = super().config().replace(ACL_RULES, f"{ACL_RULES} {LAYOUT_RULES}")
        return base + "\n".join(lines) + "\n"

    def admin(self) -> Redis:
        return Redis(port=self.port, username=ADMIN, password=self._admin_password, decode_responses=True)


class RedisCluster:
    def __init__(self, data_dir: Path, *, shards: int = 3) -> None:
        self.password = secrets.token_urlsafe(24)
        admin_password = secrets.token_urlsafe(24)
        self.nodes = [
            ClusterNode(data_dir / f"node-{index}", password=self.password, admin_password=admin_password)
            for index in range(shards)
        ]

    @property
    def url(self) -> str:
        """`redis+cluster://` with every node as a seed."""
        seeds = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"redis+cluster://{USER}:{quote(self.password, safe='')}@{seeds}"

    @property
    def pids(self) -> list[int]:
        return [node._process.pid for node in self.nodes if node._process is not None]

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            self._form()
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self) -> None:
        admins = [node.admin() for node in self.nodes]
        try:
            share = SLOTS // len(self.nodes)
            for index, admin in enumerate(admins):
                first = index * share
                last = SLOTS - 1 if index == len(self.nodes) - 1 else first + share - 1
                admin.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
            for node in self.nodes[1:]:
                admins[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port)
            deadline = time.monotonic() + READY_TIMEOUT_S
            while time.monotonic() < deadline:
                try:
                    if all(self._ready(admin) for admin in admins):
                        return
                except RedisError:
                    pass
                time.sleep(0.1)
            raise RuntimeError(f"the cluster did not form within {READY_TIMEOUT_S} s")
        finally:
            for admin in admins:
                admin.close()

    def _ready(self, admin: Redis) -> bool:
        state = admin.execute_command("CLUSTER INFO")
        return state.get("cluster_state") == "ok" and int(state.get("cluster_known_nodes", 0)) == len(self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
