"""Redis URLs: a Sentinel URL read into its parts, and every bad URL refused with a message that
says what to fix and never echoes a password."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis import Redis

from shared.redis_url import (
    ClusterUrl,
    SentinelUrl,
    check_redis_url,
    parse_cluster_url,
    parse_sentinel_url,
    with_password,
)
from shared.settings import Settings

GOOD = [
    (
        "three sentinels, a db, both logins",
        "redis+sentinel://thinkstream:p%40ss@10.0.0.1:26379,10.0.0.2:26380,10.0.0.3/ha/2?sentinel_password=s3",
        SentinelUrl(
            sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379)),
            service="ha",
            db=2,
            username="thinkstream",
            password="p@ss",
            sentinel_password="s3",
        ),
    ),
    (
        "one sentinel by name, no login",
        "redis+sentinel://sentinel.redis.svc:26379/thinkstream",
        SentinelUrl(sentinels=(("sentinel.redis.svc", 26379),), service="thinkstream"),
    ),
    ("IPv6", "redis+sentinel://[::1]:5000/svc", SentinelUrl(sentinels=(("::1", 5000),), service="svc")),
]

BAD = [
    ("no scheme", "thinkstream:secret@10.0.0.1:6379", "no scheme"),
    ("another scheme", "http://secret@10.0.0.1", "got http://"),
    ("no service", "redis+sentinel://thinkstream:secret@h:26379", "names the service"),
    ("db not a number", "redis+sentinel://h:26379/svc/zero", "is a number"),
    ("bad port", "redis+sentinel://h:port/svc", "bad port"),
    ("no sentinels", "redis+sentinel:///svc", "lists the Sentinels"),
    ("unknown option", "redis+sentinel://h/svc?socket_timeout=1", "known: sentinel_username, sentinel_password"),
]


@pytest.mark.parametrize(("name", "url", "expected"), GOOD, ids=[c[0] for c in GOOD])
def test_redis_url_sentinel_parts(name: str, url: str, expected: SentinelUrl) -> None:
    assert parse_sentinel_url(url) == expected
    assert check_redis_url(url) == url


@pytest.mark.parametrize(("name", "url", "message"), BAD, ids=[c[0] for c in BAD])
def test_redis_url_bad_one_is_refused_at_start_up_without_echoing_it(name: str, url: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(redis_url=url)
    assert message in str(refused.value)
    assert "secret" not in str(refused.value)


def test_redis_url_plain_ones_pass_unchanged() -> None:
    for url in ("redis://localhost:6379/0", "rediss://u:p@host:6380", "unix:///run/redis.sock"):
        assert Settings(redis_url=url).redis_url == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://redis:6379/0", "redis://:p%40ss%2Fw%3Ard@redis:6379/0"),
        ("redis://thinkstream@redis:6379/0", "redis://thinkstream:p%40ss%2Fw%3Ard@redis:6379/0"),
        ("redis://u:own@redis:6379/0", "redis://u:own@redis:6379/0"),
        (
            "redis+sentinel://s1:26379,s2:26379/thinkstream/0",
            "redis+sentinel://:p%40ss%2Fw%3Ard@s1:26379,s2:26379/thinkstream/0",
        ),
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock?db=1&password=p%40ss%2Fw%3Ard"),
    ],
)
def test_a_password_from_a_secret_goes_into_the_url_unless_it_names_one(url: str, expected: str) -> None:
    assert with_password(url, "p@ss/w:rd") == expected


def test_the_password_setting_reaches_the_connection() -> None:
    settings = Settings(redis_url="redis+sentinel://s1:26379,s2:26379/thinkstream/0", redis_password="p@ss/w:rd")
    assert settings.redis_url is not None
    assert parse_sentinel_url(settings.redis_url).password == "p@ss/w:rd"
    assert (
        Redis.from_url(with_password("redis://redis:6379/0", "p@ss/w:rd")).connection_pool.connection_kwargs["password"]
        == "p@ss/w:rd"
    )
    with pytest.raises(ValueError, match="THINKSTREAM_REDIS_URL"):
        Settings(redis_password="x")


def test_redis_url_a_cluster_holds_the_event_plane_only() -> None:
    url = "redis+cluster://thinkstream:s%3Acret@10.0.0.1:7000,10.0.0.2,[::1]:7002"
    assert parse_cluster_url(url) == ClusterUrl(
        nodes=(("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002)), username="thinkstream", password="s:cret"
    )
    assert Settings(redis_url="redis://q:6379/0", events_redis_url=url).events_redis_url == url
    with pytest.raises(ValidationError) as refused:
        Settings(redis_url=url)
    assert "THINKSTREAM_EVENTS_REDIS_URL" in str(refused.value) and "s%3Acret" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://u:secret@", "lists one or more of its nodes"),
        ("redis+cluster://u:secret@h:7000/0", "no database"),
        ("redis+cluster://u:secret@h:70000", "bad port"),
        ("memcached://u:secret@h", "redis+cluster://"),
    ],
)
def test_redis_url_a_bad_events_url_says_what_to_fix(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(events_redis_url=url)
    assert message in str(refused.value) and "secret" not in str(refused.value)
