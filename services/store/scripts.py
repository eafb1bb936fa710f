"""Lua scripts inside transactions, without redis-py's extra round trip.

A redis-py `Script` called on a pipeline makes the pipeline ask Redis whether each of its
scripts is loaded (SCRIPT EXISTS) before every execute: one round trip more each time a job is
queued, on the way to its first token. `queue_script` queues the script as an EVAL of its body
instead. Redis keeps compiled scripts by their SHA either way, so the body only costs its bytes
on the wire, and it runs on a Redis that restarted or failed over since (an EVALSHA inside a
MULTI would fail on its own there, while the rest of the transaction applied).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.client import Pipeline
from redis.commands.core import Script
from redis.typing import EncodableT, KeyT


def queue_script(pipe: Pipeline, script: Script, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> None:
    """Queue `script` on `pipe` (a transaction) as `script(keys=..., args=..., client=pipe)`
    would, its reply in the same place of the results."""
    pipe.eval(script.script, len(keys), *keys, *args)
