"""A highly available Redis on one machine for tests: a primary, a replica and three Sentinels,
all the private `redis-server` binary, locked down like `RedisServer`.

Three users on the data nodes: thinkstream's own (as `RedisServer` makes it), one the replica
logs in with to copy the primary (`masteruser`), and one for the Sentinels with exactly the
commands Redis documents they need. The Sentinels require a password of their own.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from redis import Redis
from redis.exceptions import RedisError

from services.runtime.private import private_dir, write_private
from services.runtime.redis_client import connect
from services.runtime.redis_server import RedisServer, free_ports, redis_server_binary

SERVICE = "thinkstream"
DOWN_AFTER_MS = 1000
REPLICATION_USER = "replicator"
SENTINEL_USER = "sentinel"
SENTINEL_RULES = (
    "allchannels +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info "
    "+client|setname +client|kill +script|kill"
)


class DataNode(RedisServer):
    """A primary, or (with `replica_of`) a replica of one; either can be promoted or demoted."""

    def __init__(
        self, data_dir: Path, *, port: int, password: str, internal: str, replica_of: int | None = None
    ) -> None:
        super().__init__(data_dir, port=port, password=password)
        self._internal = internal
        self.replica_of = replica_of

    def config(self) -> str:
        lines = [
            f"user {REPLICATION_USER} on >{self._internal} +psync +replconf +ping",
            f"user {SENTINEL_USER} on >{self._internal} {SENTINEL_RULES}",
            f"masteruser {REPLICATION_USER}",
            f"masterauth {self._internal}",
        ]
        if self.replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {self.replica_of}")
        return super().config() + "\n".join(lines) + "\n"

    def kill(self) -> None:
        """SIGKILL: no AOF flush, no goodbye to the replica or the Sentinels."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()


class HaRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.password = secrets.token_urlsafe(24)
        self.sentinel_password = secrets.token_urlsafe(24)
        internal = secrets.token_urlsafe(24)
        self._internal = internal
        primary_port, replica_port, *self.sentinel_ports = free_ports(5)
        self.primary = DataNode(data_dir / "primary", port=primary_port, password=self.password, internal=internal)
        self.replica = DataNode(
            data_dir / "replica",
            port=replica_port,
            password=self.password,
            internal=internal,
            replica_of=self.primary.port,
        )
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        sentinels = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return (
            f"redis+sentinel://thinkstream:{quote(self.password, safe='')}@{sentinels}/{SERVICE}"
            f"?sentinel_password={quote(self.sentinel_password, safe='')}"
        )

    def start(self) -> HaRedis:
        self.primary.start()
        self.replica.start()
        for index, port in enumerate(self.sentinel_ports):
            folder = self.data_dir / f"sentinel-{index}"
            private_dir(folder)
            config = folder / "sentinel.conf"
            write_private(config, self._sentinel_config(port, folder))
            command = [redis_server_binary(), str(config), "--sentinel"]
            with (folder / "sentinel.log").open("ab") as log:
                self._sentinels.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        self._wait(lambda: self.replica_online() and self._sentinels_agree(), "the replica and the Sentinels")
        return self

    def _sentinel_config(self, port: int, folder: Path) -> str:
        return "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                f'dir "{folder}"',
                f"requirepass {self.sentinel_password}",
                f"sentinel sentinel-pass {self.sentinel_password}",
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2",
                f"sentinel auth-user {SERVICE} {SENTINEL_USER}",
                f"sentinel auth-pass {SERVICE} {self._internal}",
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {SERVICE} 10000",
                f"sentinel parallel-syncs {SERVICE} 1",
                "",
            ]
        )

    def client(self, **options: object) -> Redis:
        """A client of whichever node the Sentinels name the primary."""
        return connect(self.url, retries=3)

    def sentinel(self, port: int) -> Redis:
        return Redis(port=port, password=self.sentinel_password, socket_timeout=1)

    def primary_port(self) -> int | None:
        """The primary's port, as the Sentinels report it (None if they disagree or fail)."""
        ports = set()
        for port in self.sentinel_ports:
            with self.sentinel(port) as sentinel:
                try:
                    _, found = sentinel.sentinel_get_master_addr_by_name(SERVICE)
                except (RedisError, TypeError):
                    return None
                ports.add(int(found))
        return ports.pop() if len(ports) == 1 else None

    def replica_online(self) -> bool:
        with self.primary.client(socket_timeout=1) as client:
            info = client.info("replication")
        return any(isinstance(v, dict) and v.get("state") == "online" for k, v in info.items() if k.startswith("slave"))

    def _sentinels_agree(self) -> bool:
        """Every Sentinel names the primary and knows the replica and the two other Sentinels."""
        for port in self.sentinel_ports:
            with self.sentinel(port) as sentinel:
                try:
                    state = sentinel.sentinel_master(SERVICE)
                except RedisError:
                    return False
                if state["num-slaves"] < 1 or state["num-other-sentinels"] < 2:
                    return False
        return self.primary_port() == self.primary.port

    def wait_failover(self, timeout_s: float = 60) -> None:
        self._wait(lambda: self.primary_port() == self.replica.port, "the failover")

    def _wait(self, ready: object, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if ready():  # type: ignore[operator]
                    return
            except RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{what} not ready after {timeout_s} s (logs in {self.data_dir})")

    def stop(self) -> None:
        for process in self._sentinels:
            process.terminate()
        for process in self._sentinels:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.replica.stop()
        self.primary.stop()

    def __enter__(self) -> HaRedis:
        try:
            return self.start()
        except BaseException:
            self.stop()  # a set that never got ready leaves no process behind
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
