"""What waiting for a replica costs a job's acceptance (`POST /v1/jobs` → 202).

Three gateways run side by side, each with its own Redis:

- **single**: one redis-server, no replica (nothing to wait for);
- **ha, no WAIT**: a primary, a replica and three Sentinels, `THINKSTREAM_ACCEPT_REPLICAS=0`;
- **ha, WAIT**: the same topology with the default `THINKSTREAM_ACCEPT_REPLICAS=1`: the 202 comes
  only once the replica holds the job.

No worker runs: the jobs stay queued, so only acceptance is measured. Requests go one at a
time, in turn to each gateway, so machine noise hits all three alike. Prints a table and writes
bench/results/acceptance.json.

    .venv/bin/python -m bench.acceptance [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from services.runtime.redis_server import RedisServer, free_port
from tests.support.ha_redis import HaRedis

RESULTS = Path(__file__).parent / "results" / "acceptance.json"
ROOMY = {
    "THINKSTREAM_MAX_QUEUED_JOBS": "1000000",
    "THINKSTREAM_KEY_MAX_QUEUED_JOBS": "1000000",
    "THINKSTREAM_CLIENT_REQUESTS_PER_MINUTE": "1000000",
}


def gateway(stack: ExitStack, redis_url: str, log: Path, **env: str) -> str:
    port = free_port()
    environment = {**os.environ, **ROOMY, **env, "THINKSTREAM_REDIS_URL": redis_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "gateway", "--port", str(port)],
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    stack.callback(process.wait, 30)
    stack.callback(process.terminate)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            return url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"gateway did not start; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        single = stack.enter_context(RedisServer(root / "single"))
        ha = stack.enter_context(HaRedis(root / "ha"))
        urls = {
            "single": gateway(stack, single.url, root / "single.log"),
            "ha, no WAIT": gateway(stack, ha.url, root / "nowait.log", THINKSTREAM_ACCEPT_REPLICAS="0"),
            "ha, WAIT": gateway(stack, ha.url, root / "wait.log"),
        }
        times: dict[str, list[float]] = {name: [] for name in urls}
        with httpx.Client(timeout=30) as client:
            for url in urls.values():  # the first request of each warms its connections
                client.post(f"{url}/v1/jobs", json={"prompt": "warm up"}).raise_for_status()
            for n in range(args.requests):
                for name, url in urls.items():
                    began = time.perf_counter()
                    response = client.post(f"{url}/v1/jobs", json={"prompt": f"What is {n} + 1?"})
                    times[name].append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 202, response.text
        with ha.client() as redis:
            replication = redis.info("replication")
            waits = redis.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)
        # Only the WAIT gateway waits, once per job: proof the figure measures what it says.
        assert waits == args.requests + 1, f"WAIT ran {waits} times for {args.requests + 1} jobs"

    summary = {}
    print(f"{'202 in ms':14}{'p50':>8}{'p95':>8}{'mean':>8}")
    for name, samples in times.items():
        ordered = sorted(samples)
        row = {
            "p50": statistics.median(ordered),
            "p95": ordered[int(len(ordered) * 0.95) - 1],
            "mean": statistics.fmean(ordered),
        }
        summary[name] = row
        print(f"{name:14}{row['p50']:8.1f}{row['p95']:8.1f}{row['mean']:8.1f}")
    wait_cost = summary["ha, WAIT"]["p50"] - summary["ha, no WAIT"]["p50"]
    print(f"\nWAIT adds {wait_cost:.1f} ms at the median ({args.requests} requests each, one machine)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "times": times, "replication": str(replication)}, indent=2))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
