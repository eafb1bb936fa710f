from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from services.runtime.logs import configure_logging, job_logging, resolve_format, worker_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers (pytest's among them); put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_logs_line_inside_job_logging_is_json_with_the_job_id(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    with job_logging("abc"):
        logging.getLogger("thinkstream.test").info("generating %d tokens", 12)
    logging.getLogger("thinkstream.test").info("between jobs")

    inside, outside = lines(out)
    assert inside["job_id"] == "abc"
    assert inside["message"] == "generating 12 tokens"
    assert inside["level"] == "INFO" and inside["logger"] == "thinkstream.test"
    assert "time" in inside
    assert outside["job_id"] is None


def test_logs_worker_and_job_nest(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    log = logging.getLogger("thinkstream.test")
    with worker_logging("host-1-abc"):
        log.info("started")
        with job_logging("j1"):
            log.info("in job")
        log.info("idle")

    started, in_job, idle = lines(out)
    assert (started["worker"], started["job_id"]) == ("host-1-abc", None)
    assert (in_job["worker"], in_job["job_id"]) == ("host-1-abc", "j1")
    assert (idle["worker"], idle["job_id"]) == ("host-1-abc", None)


def test_logs_exception_keeps_its_traceback_in_one_line(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    with job_logging("abc"):
        try:
            raise ValueError("bad token")
        except ValueError:
            logging.getLogger("thinkstream.test").exception("job failed")

    (line,) = lines(out)
    assert line["job_id"] == "abc" and "ValueError: bad token" in line["exc_info"]


def test_logs_text_format_tags_the_job(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", out)
    with job_logging("abc", worker="w1"):
        logging.getLogger("thinkstream.test").warning("slow")
    logging.getLogger("thinkstream.test").warning("idle")

    inside, outside = out.getvalue().splitlines()
    assert inside.endswith("WARNING thinkstream.test [job_id=abc worker=w1] slow")
    assert outside.endswith("WARNING thinkstream.test idle")


def test_logs_auto_is_text_at_a_terminal_and_json_elsewhere() -> None:
    assert resolve_format("auto", Terminal()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Terminal()) == "json"


def test_logs_uvicorn_access_line_has_its_parts_as_fields(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/metrics", "1.1", 200)

    (line,) = lines(out)
    assert line["message"] == '127.0.0.1:5000 - "GET /metrics HTTP/1.1" 200'
    assert (line["method"], line["path"], line["status"]) == ("GET", "/metrics", 200)
