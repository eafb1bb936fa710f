"""The Redis URLs thinkstream accepts, checked when the settings are built.

- `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, `rediss://...` and `unix://...`: one server, as
  redis-py reads them;
- `redis+sentinel://[USER:PASSWORD@]HOST:PORT,HOST:PORT,.../SERVICE[/DB]`: the primary that the
  listed Sentinels name for SERVICE, followed through failovers. USER and PASSWORD log in to the
  primary (and replicas); `?sentinel_username=U&sentinel_password=P` to the Sentinels
  themselves, when they require it. A Sentinel without a port is on 26379.
- `redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]`: a Redis Cluster, found from any of
  the listed nodes (only for the event plane, `THINKSTREAM_EVENTS_REDIS_URL`). A node without a
  port is on 6379.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

SERVER_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
EXAMPLE = "redis+sentinel://USER:PASSWORD@HOST:26379,HOST:26379,HOST:26379/SERVICE/0"
CLUSTER_SCHEME = "redis+cluster"
CLUSTER_PORT = 6379
CLUSTER_EXAMPLE = "redis+cluster://USER:PASSWORD@HOST:6379,HOST:6379,HOST:6379"


@dataclass(frozen=True)
class ClusterUrl:
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def with_password(url: str, password: str) -> str:
    """`url` with `password` for the server (for a Sentinel URL: for its primary and replicas),
    unless the URL names one itself."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() == "unix":
        path, _, query = url.partition("?")
        if "password" in parse_qs(query):
            return url
        return f"{path}?{'&'.join(filter(None, [query, urlencode({'password': password})]))}"
    authority = rest.split("/", 1)[0]
    userinfo, at, _ = authority.rpartition("@")
    if at and ":" in userinfo:
        return url
    return f"{scheme}{sep}{userinfo}:{quote(password, safe='')}@{rest[len(userinfo) + len(at) :]}"


def check_redis_url(url: str, *, cluster: bool = False) -> str:
    """`url` if thinkstream can use it; else ValueError saying what to fix. `cluster`: a
    `redis+cluster://` URL is accepted too (the event plane's)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == CLUSTER_SCHEME:
        if not cluster:
            raise ValueError(
                f"a Redis Cluster ({CLUSTER_SCHEME}://) can hold only the event plane "
                "(THINKSTREAM_EVENTS_REDIS_URL); the queues need one Redis (redis:// or redis+sentinel://)"
            )
        parse_cluster_url(url)
    elif scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url)
    elif scheme not in SERVER_SCHEMES:
        # Never echo the URL itself: it may hold a password.
        got = f"{scheme}://" if scheme else "no scheme"
        raise ValueError(
            f"a Redis URL starts with redis://, rediss://, unix:// or {SENTINEL_SCHEME}:// (got {got}), "
            f"e.g. redis://HOST:6379/0 or {EXAMPLE}" + (f" or {CLUSTER_EXAMPLE}" if cluster else "")
        )
    return url


def parse_cluster_url(url: str) -> ClusterUrl:
    parts = urlsplit(url)
    if parts.scheme.lower() != CLUSTER_SCHEME:
        raise ValueError(f"not a {CLUSTER_SCHEME}:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    nodes = tuple(_host_port(member, CLUSTER_PORT, CLUSTER_EXAMPLE) for member in hosts.split(",") if member.strip())
    if not nodes:
        raise ValueError(f"a cluster URL lists one or more of its nodes as HOST:PORT,HOST:PORT: {CLUSTER_EXAMPLE}")
    if parts.path.strip("/") or parts.query:
        raise ValueError(f"a cluster URL has no database and no options (a cluster has one): {CLUSTER_EXAMPLE}")
    return ClusterUrl(nodes=nodes, username=unquote(username) or None, password=unquote(password) or None)


def parse_sentinel_url(url: str) -> SentinelUrl:
    parts = urlsplit(url)
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = tuple(_host_port(member, SENTINEL_PORT, EXAMPLE) for member in hosts.split(",") if member.strip())
    if not sentinels:
        raise ValueError(f"a Sentinel URL lists the Sentinels as HOST:PORT,HOST:PORT: {EXAMPLE}")
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2:
        raise ValueError(f"a Sentinel URL names the service the Sentinels monitor, then optionally the db: {EXAMPLE}")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"the database in a Sentinel URL is a number (got {path[1]!r}): {EXAMPLE}")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - set(SENTINEL_OPTIONS))
    if unknown:
        known = ", ".join(SENTINEL_OPTIONS)
        raise ValueError(f"unknown option(s) {', '.join(unknown)} in the Sentinel URL; known: {known}")
    return SentinelUrl(
        sentinels=sentinels,
        service=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_username=options.get("sentinel_username", [""])[-1] or None,
        sentinel_password=options.get("sentinel_password", [""])[-1] or None,
    )


def _host_port(member: str, default_port: int, example: str) -> tuple[str, int]:
    member = member.strip()
    host, port = member, ""
    if member.startswith("["):  # [IPv6]:PORT
        host, _, rest = member[1:].partition("]")
        port = rest.removeprefix(":")
    elif member.count(":") == 1:
        host, port = member.split(":")
    if not host:
        raise ValueError(f"an address without a host ({member!r}): {example}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"an address with a bad port ({member!r}): {example}")
    return host, int(port) if port else default_port
