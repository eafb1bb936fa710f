"""The Kubernetes manifests: every kustomization resolves, the overlays render with kustomize
(`kubectl kustomize`), every object validates against the Kubernetes schema (and the ScaledObject
against KEDA's), and the rendered objects do what docs/deploy.md promises."""

from __future__ import annotations

import functools
import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from services.cli.main import _parser
from shared import keys
from shared.models import ModelSpec
from shared.settings import EMBEDDED_MODEL_FILE, Settings
from tests.support.kubectl import kubectl as find_kubectl
from tests.support.redis_command import assert_refuses_strangers
from tests.support.scripts import run_script

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod", "ha")
HA_COMPONENTS = ("redis", "sentinel")
"""What the highly available Redis option (overlays/ha) runs besides the app: data nodes, Sentinels."""
# The oldest Kubernetes release the manifests are for (topology spread's matchLabelKeys is on by
# default from 1.27).
KUBERNETES_VERSION = "1.29.0"
APP_COMPONENTS = ("gateway", "worker", "postproc")
Doc = dict[str, Any]


@functools.cache
def render(overlay: str) -> tuple[Doc, ...]:
    kubectl = find_kubectl()
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"kustomize build of overlays/{overlay} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def find(docs: tuple[Doc, ...], kind: str, name: str | None = None) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def component_of(doc: Doc) -> str:
    component: str = doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    return component


def workloads(docs: tuple[Doc, ...], component: str) -> list[Doc]:
    found = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and component_of(d) == component]
    assert found, f"no workload for {component}"
    return found


def workload(docs: tuple[Doc, ...], component: str) -> Doc:
    found = workloads(docs, component)
    assert len(found) == 1, f"expected one workload for {component}, found {len(found)}"
    return found[0]


def configured_models(docs: tuple[Doc, ...], doc: Doc, container_name: str) -> list[ModelSpec]:
    """The models a container's settings list (THINKSTREAM_MODELS)."""
    return Settings(models=json.loads(config_env(docs, doc, container_name)["THINKSTREAM_MODELS"])).catalog


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def container(doc: Doc, name: str) -> Doc:
    found: Doc = next(c for c in pod_spec(doc)["containers"] if c["name"] == name)
    return found


def pod_labels(docs: tuple[Doc, ...]) -> dict[str, dict[str, str]]:
    return {
        component_of(d): d["spec"]["template"]["metadata"]["labels"]
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    }


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels/matchExpressions, or a Service's plain map) matches."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "NotIn" and value in expr["values"]):
            return False
        if (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return True


def config_env(docs: tuple[Doc, ...], workload_doc: Doc, container_name: str) -> dict[str, str]:
    """What a container gets from its ConfigMaps (envFrom)."""
    env: dict[str, str] = {}
    for source in container(workload_doc, container_name).get("envFrom", []):
        if "configMapRef" in source:
            env.update(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    return env


def unknown_fields(model: type[BaseModel], data: Any, path: str = "") -> Iterator[str]:
    """Keys the CRD's generated model does not declare (its validation ignores them silently)."""
    if not isinstance(data, dict):
        return
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    for key, value in data.items():
        if key not in fields:
            yield f"{path}.{key}"
            continue
        for inner in _models_in(fields[key].annotation):
            for item in value if isinstance(value, list) else [value]:
                yield from unknown_fields(inner, item, f"{path}.{key}")


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _models_in(arg)


def test_k8s_every_kustomization_path_resolves() -> None:
    """Needs no kubectl: every resource, component and patch file that a kustomization names exists."""
    directories = sorted(path.parent for path in K8S.rglob("kustomization.yaml"))
    names = {d.relative_to(K8S).as_posix() for d in directories}
    assert names >= {"base", "overlays/dev", "overlays/prod", "components/keda", "components/hpa"}
    for directory in directories:
        spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
        paths = [*spec.get("resources", []), *spec.get("components", [])]
        paths += [patch["path"] for patch in spec.get("patches", []) if "path" in patch]
        for relative in paths:
            assert (directory / relative).exists(), f"{directory.relative_to(K8S)}: {relative} does not exist"


def test_k8s_manifest_files_validate_against_the_kubernetes_schema() -> None:
    checked = 0
    components = K8S / "components"
    for directory in (
        K8S / "base",
        K8S / "worker",
        components / "keda",
        components / "keda-access",
        components / "hpa",
    ):
        spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
        for relative in spec["resources"]:
            for doc in yaml.safe_load_all((directory / relative).read_text()):
                if doc["apiVersion"].startswith("keda.sh/"):
                    continue  # KEDA's own schema: test_k8s_keda_scaled_object_watches_the_inference_queue_list
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
                checked += 1
    assert checked >= 15


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_overlay_renders_and_validates(overlay: str) -> None:
    docs = render(overlay)
    for doc in docs:
        if not doc["apiVersion"].startswith("keda.sh/"):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ConfigMap", "Secret", "StatefulSet", "Deployment", "Service"} <= kinds
    assert {"PodDisruptionBudget", "NetworkPolicy"} <= kinds
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {one(docs, "Namespace", "thinkstream")["metadata"]["name"]}
    extra = {"sentinel"} if overlay == "ha" else set()
    assert set(pod_labels(docs)) == {"redis", *APP_COMPONENTS, *extra}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_each_model_has_its_own_workers_and_exactly_one_autoscaler(overlay: str) -> None:
    docs = render(overlay)
    workers = workloads(docs, "worker")
    models = [m.name for m in configured_models(docs, workload(docs, "gateway"), "gateway")]
    held = sorted(config_env(docs, w, "worker")["THINKSTREAM_WORKER_MODEL"] for w in workers)
    assert held == sorted(models), "one worker Deployment per model the gateway serves"
    selectors = [w["spec"]["selector"]["matchLabels"] for w in workers]
    for worker, selector in zip(workers, selectors, strict=True):
        others = [w for w in workers if w is not worker]
        assert not any(selects(selector, pod_labels_of(o)) for o in others), "a model's pods are only its own"
        assert "replicas" not in worker["spec"], "re-applying the manifests would reset the autoscaled count"
        scalers = [
            s
            for s in find(docs, "ScaledObject") + find(docs, "HorizontalPodAutoscaler")
            if s["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
        ]
        assert len(scalers) == 1, "KEDA and a plain HPA would fight over the worker replica count"
        assert scalers[0]["spec"]["scaleTargetRef"].get("kind", "Deployment") == worker["kind"]


def pod_labels_of(doc: Doc) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def test_k8s_keda_scaled_objects_watch_their_own_models_queue_lists() -> None:
    from cloudcoil.models.keda.v1alpha1 import ScaledObject  # 1 MB of generated models: load only here

    docs = render("prod")
    scaled_objects = find(docs, "ScaledObject")
    assert len(scaled_objects) == len(workloads(docs, "worker")) >= 2
    for scaled in scaled_objects:
        ScaledObject.model_validate(scaled)
        assert not list(unknown_fields(ScaledObject, scaled)), "fields that KEDA's ScaledObject does not have"
        spec = scaled["spec"]
        assert spec["minReplicaCount"] == 1, "one worker always runs, to sweep abandoned jobs"
        assert spec["maxReplicaCount"] > 1
        (worker,) = [w for w in workloads(docs, "worker") if w["metadata"]["name"] == spec["scaleTargetRef"]["name"]]
        model = config_env(docs, worker, "worker")["THINKSTREAM_WORKER_MODEL"]
        lists = {t["metadata"]["listName"]: t["metadata"] for t in spec["triggers"] if t["type"] == "redis"}
        assert set(lists) == {keys.backlog_key(model, p) for p in ("high", "normal", "low")}, "this model's queue"
        question, batch = lists[keys.backlog_key(model, "normal")], lists[keys.backlog_key(model, "low")]
        assert int(question["listLength"]) >= 1
        assert lists[keys.backlog_key(model, "high")]["listLength"] == question["listLength"]
        assert int(batch["listLength"]) >= int(question["listLength"]), "a batch item is less urgent than a question"
        assert batch["address"] == question["address"]
        # The operator runs in its own namespace: the address must be the Redis Service's full name.
        (service,) = [
            s for s in find(docs, "Service") if s["spec"]["selector"]["app.kubernetes.io/component"] == "redis"
        ]
        host, port = question["address"].rsplit(":", 1)
        assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
        assert int(port) == service["spec"]["ports"][0]["port"]
        redis_url = config_env(docs, worker, "worker")["THINKSTREAM_REDIS_URL"]
        assert redis_url.rsplit("/", 1)[1] == question.get("databaseIndex", "0"), "the workers' database"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_worker_grace_period_exceeds_the_job_time_limit(overlay: str) -> None:
    docs = render(overlay)
    for worker in workloads(docs, "worker"):
        env = config_env(docs, worker, "worker")
        job_timeout_s = int(env.get("THINKSTREAM_JOB_TIMEOUT_S", Settings.model_fields["job_timeout_s"].default))
        assert pod_spec(worker)["terminationGracePeriodSeconds"] > job_timeout_s


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_gateway_grace_period_covers_its_pre_stop_pause_and_drain(overlay: str) -> None:
    docs = render(overlay)
    gateway = workload(docs, "gateway")
    env = config_env(docs, gateway, "gateway")
    drain_s = int(env.get("THINKSTREAM_DRAIN_S", Settings.model_fields["drain_s"].default))
    pre_stop = container(gateway, "gateway")["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod_spec(gateway)["terminationGracePeriodSeconds"] > drain_s + int(pre_stop[1])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_worker_threads_match_its_cpu_limit(overlay: str) -> None:
    for doc in workloads(render(overlay), "worker"):
        check_threads(container(doc, "worker"))


def check_threads(worker: Doc) -> None:
    resources = worker["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"], "Guaranteed CPU for the decode threads"
    (threads,) = [e for e in worker["env"] if e["name"] == "THINKSTREAM_N_THREADS"]
    if "value" in threads:
        assert float(threads["value"]) == float(resources["limits"]["cpu"])
    else:
        field = threads["valueFrom"]["resourceFieldRef"]
        assert (field["containerName"], field["resource"]) == ("worker", "limits.cpu")
        assert str(field.get("divisor", "1")) == "1", "whole cores"
        assert float(resources["limits"]["cpu"]).is_integer(), "a fractional limit would round the threads up"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_gateway_and_workers_read_the_models_from_a_volume(overlay: str) -> None:
    docs = render(overlay)
    listed = {
        component: [[m.path for m in configured_models(docs, doc, component)] for doc in workloads(docs, component)]
        for component in ("gateway", "worker")
    }
    everyone = [paths for lists in listed.values() for paths in lists]
    assert all(paths == everyone[0] for paths in everyone), (
        "the gateway counts prompt tokens with each model's own file"
    )
    for component in ("gateway", "worker"):
        for doc in workloads(docs, component):
            for model_path in everyone[0]:
                check_on_a_volume(docs, doc, component, model_path)


def check_on_a_volume(docs: tuple[Doc, ...], doc: Doc, component: str, model_path: Path) -> None:
    mounts = [m for m in container(doc, component)["volumeMounts"] if Path(m["mountPath"]) in model_path.parents]
    assert len(mounts) == 1, f"{component}: {model_path} is not on a volume"
    (volume,) = [v for v in pod_spec(doc)["volumes"] if v["name"] == mounts[0]["name"]]
    if "persistentVolumeClaim" in volume:
        claim = one(docs, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
        assert "ReadOnlyMany" in claim["spec"]["accessModes"], "pods on many nodes mount it at once"
    else:
        inits = pod_spec(doc).get("initContainers", [])
        fillers = [c for c in inits if any(m["name"] == volume["name"] for m in c["volumeMounts"])]
        assert fillers, f"{component}: nothing puts the model on its volume"
        # The init container copies the image's embedded model under its own file name.
        assert model_path.name == EMBEDDED_MODEL_FILE


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_gateway_and_workers_spread_across_nodes_with_disruption_budgets(overlay: str) -> None:
    docs = render(overlay)
    for component in ("gateway", "worker"):
        for doc in workloads(docs, component):
            pods = pod_labels_of(doc)
            spread = pod_spec(doc)["topologySpreadConstraints"]
            by_node = [c for c in spread if c["topologyKey"] == "kubernetes.io/hostname"]
            assert any(selects(c["labelSelector"], pods) for c in by_node), f"{component}: not spread"
            budgets = [p for p in find(docs, "PodDisruptionBudget") if selects(p["spec"]["selector"], pods)]
            assert len(budgets) == 1, f"{component}: expected one PodDisruptionBudget"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_redis_persists_an_append_only_file_on_a_claim(overlay: str) -> None:
    redis = workload(render(overlay), "redis")
    assert redis["kind"] == "StatefulSet"
    args = container(redis, "redis")["args"]
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    assert options["--maxmemory-policy"] == "noeviction"
    claims = {t["metadata"]["name"] for t in redis["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container(redis, "redis")["volumeMounts"]}
    assert mounts.get(options["--dir"]) in claims, "the AOF directory must be on the PersistentVolumeClaim"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_services_select_pods_and_their_named_ports(overlay: str) -> None:
    docs = render(overlay)
    labels = pod_labels(docs)
    for service in find(docs, "Service"):
        (component,) = [c for c, pod in labels.items() if selects(service["spec"]["selector"], pod)]
        port_names = {p["name"] for c in pod_spec(workload(docs, component))["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{service['metadata']['name']}: no port {port['targetPort']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_network_policies_expose_only_the_gateway_and_redis_only_to_services(overlay: str) -> None:
    docs = render(overlay)
    labels = pod_labels(docs)
    policies = [p["spec"] for p in find(docs, "NetworkPolicy")]
    assert any(p["podSelector"] == {} and p["policyTypes"] == ["Ingress"] and not p.get("ingress") for p in policies)
    rules = {
        c: [rule for p in policies if selects(p["podSelector"], pod) for rule in p.get("ingress", [])]
        for c, pod in labels.items()
    }
    assert {c for c, rs in rules.items() if any("from" not in r for r in rs)} == {"gateway"}
    assert rules["worker"] == [] and rules["postproc"] == []
    peers = [peer for r in rules["redis"] for peer in r["from"]]
    in_namespace = [peer for peer in peers if "namespaceSelector" not in peer]
    allowed = {c for peer in in_namespace for c, pod in labels.items() if selects(peer["podSelector"], pod)}
    # With a highly available Redis the data nodes also take the Sentinels and each other (a replica copies).
    assert allowed == set(APP_COMPONENTS) | (set(HA_COMPONENTS) if overlay == "ha" else set())
    if overlay == "ha":
        to_sentinels = [
            peer
            for p in policies
            if selects(p["podSelector"], labels["sentinel"])
            for r in p.get("ingress", [])
            for peer in r["from"]
            if "namespaceSelector" not in peer
        ]
        reach = {c for peer in to_sentinels for c, pod in labels.items() if selects(peer["podSelector"], pod)}
        assert reach == set(APP_COMPONENTS) | set(HA_COMPONENTS)
    for peer in peers:
        if "namespaceSelector" in peer:  # only KEDA's operator, which reads the queue length
            assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "keda"}
            assert find(docs, "ScaledObject"), "Redis is open to KEDA without a ScaledObject"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_container_command_lines_are_valid_thinkstream_commands(overlay: str) -> None:
    docs = render(overlay)
    for doc in [d for component in APP_COMPONENTS for d in workloads(docs, component)]:
        component = component_of(doc)
        (app,) = pod_spec(doc)["containers"]
        assert app["image"].split(":")[0] == "thinkstream"
        argv = [*app.get("command", ["thinkstream"]), *app["args"]]  # the image's ENTRYPOINT is thinkstream
        assert argv[0] == "thinkstream"
        try:
            parsed = _parser().parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"{overlay}/{component}: {shlex.join(argv)} is not a valid thinkstream command line")
        assert parsed.command == component
        for init in pod_spec(doc).get("initContainers", []):
            assert init["command"][:2] == ["python", "-c"]
            compile(init["command"][2], f"{component} init container", "exec")


def test_k8s_worker_probes_are_the_compose_healthchecks() -> None:
    """The same heartbeat checks that test_compose runs against a real redis-server."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    docs = render("dev")
    for component in ("worker", "postproc"):
        probe = container(workload(docs, component), component)["livenessProbe"]["exec"]["command"]
        assert probe == compose[component]["healthcheck"]["test"][1:]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_config_names_are_real_settings(overlay: str) -> None:
    known = {f"THINKSTREAM_{name.upper()}" for name in Settings.model_fields}
    docs = render(overlay)
    environments = {
        source["configMapRef"]["name"]
        for doc in docs
        if doc["kind"] in ("Deployment", "StatefulSet")
        for c in pod_spec(doc)["containers"]
        for source in c.get("envFrom", [])
        if "configMapRef" in source
    }
    for config in find(docs, "ConfigMap"):
        if config["metadata"]["name"] not in environments:
            continue  # mounted as files (the HA option's start-up scripts)
        unknown = set(config["data"]) - known
        assert not unknown, f"{config['metadata']['name']}: {unknown} are not settings (shared/settings.py)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_gateway_gets_api_key_hashes_from_its_secret(overlay: str) -> None:
    """The gateway listens on 0.0.0.0, which it does only with keys: its Secret holds key hashes
    (a placeholder nobody has a key for) under a real setting's name, and no plain keys."""
    from shared.apikeys import ApiKeys

    docs = render(overlay)
    gateway = container(workload(docs, "gateway"), "gateway")
    assert _parser().parse_args(gateway["args"]).host == "0.0.0.0"
    (secret_name,) = [s["secretRef"]["name"] for s in gateway["envFrom"] if "secretRef" in s]
    secret = one(docs, "Secret", secret_name)
    data = secret.get("stringData") or {}
    known = {f"THINKSTREAM_{name.upper()}" for name in Settings.model_fields}
    assert set(data) <= known, f"{secret_name}: {set(data) - known} are not settings (shared/settings.py)"
    keys = ApiKeys.parse(data["THINKSTREAM_API_KEY_HASHES"], secret_name)
    assert keys, "without keys the gateway refuses to listen on 0.0.0.0"
    env = {e["name"]: e.get("value") for e in gateway.get("env", [])}
    assert env.get("THINKSTREAM_ALLOW_NO_AUTH", "false") == "false"


# ---------------------------------------------------------------------------------------------
# The highly available Redis option (components/redis-ha, overlays/ha)


def sentinel_addresses(docs: tuple[Doc, ...]) -> tuple[list[str], int]:
    """Each Sentinel pod's stable DNS name (StatefulSet pod.service) and the Sentinels' port."""
    sentinels = workload(docs, "sentinel")
    (service,) = [s for s in find(docs, "Service") if s["metadata"]["name"] == sentinels["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None", "headless: one DNS name per Sentinel"
    pods = range(sentinels["spec"]["replicas"])
    names = [f"{sentinels['metadata']['name']}-{i}.{service['metadata']['name']}" for i in pods]
    return names, service["spec"]["ports"][0]["port"]


def ha_script(docs: tuple[Doc, ...], name: str) -> str:
    (scripts,) = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"].startswith("thinkstream-redis-ha")]
    script: str = scripts["data"][name]
    return script


def test_k8s_ha_every_process_follows_the_sentinels() -> None:
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    from shared.redis_url import parse_sentinel_url

    docs = render("ha")
    names, port = sentinel_addresses(docs)
    for component in APP_COMPONENTS:
        for doc in workloads(docs, component):  # every model's workers
            url = config_env(docs, doc, component)["THINKSTREAM_REDIS_URL"]
            target = parse_sentinel_url(Settings(redis_url=url).redis_url or "")
            assert target.sentinels == tuple((name, port) for name in names), doc["metadata"]["name"]
            assert f"sentinel monitor {target.service} " in ha_script(docs, "sentinel.sh")
    # Each model's autoscaler reads the same lists as in prod, through the same Sentinels (from
    # KEDA's own namespace).
    prod = {s["metadata"]["name"]: s for s in find(render("prod"), "ScaledObject")}
    scaled_objects = find(docs, "ScaledObject")
    assert {s["metadata"]["name"] for s in scaled_objects} == set(prod)
    for scaled in scaled_objects:
        ScaledObject.model_validate(scaled)
        assert not list(unknown_fields(ScaledObject, scaled)), "fields that KEDA's ScaledObject does not have"
        triggers = [t for t in scaled["spec"]["triggers"] if t["type"].startswith("redis")]
        expected = [t["metadata"] for t in prod[scaled["metadata"]["name"]]["spec"]["triggers"] if t["type"] == "redis"]
        assert [t["metadata"]["listName"] for t in triggers] == [m["listName"] for m in expected]
        assert [t["metadata"]["listLength"] for t in triggers] == [m["listLength"] for m in expected]
        namespace = scaled["metadata"]["namespace"]
        for trigger in triggers:
            metadata = trigger["metadata"]
            assert trigger["type"] == "redis-sentinel" and metadata["sentinelMaster"] == target.service
            assert "address" not in metadata, "a redis-sentinel trigger asks the Sentinels, not one address"
            addresses = [a.strip() for a in metadata["addresses"].split(",")]
            assert addresses == [f"{name}.{namespace}.svc.cluster.local:{port}" for name in names]
            assert metadata.get("databaseIndex", "0") == str(target.db)


def test_k8s_ha_data_nodes_and_sentinels_spread_over_nodes_with_a_quorum_kept() -> None:
    docs = render("ha")
    labels = pod_labels(docs)
    redis, sentinels = workload(docs, "redis"), workload(docs, "sentinel")
    assert (redis["spec"]["replicas"], sentinels["spec"]["replicas"]) == (2, 3)
    for doc, component in ((redis, "redis"), (sentinels, "sentinel")):
        spread = pod_spec(doc)["topologySpreadConstraints"]
        assert any(
            c["topologyKey"] == "kubernetes.io/hostname"
            and c["whenUnsatisfiable"] == "DoNotSchedule"
            and selects(c["labelSelector"], labels[component])
            for c in spread
        ), f"{component}: two of them on one node would fall together"
        (budget,) = [b for b in find(docs, "PodDisruptionBudget") if selects(b["spec"]["selector"], labels[component])]
        if component == "sentinel":
            assert budget["spec"]["minAvailable"] >= 2, "a drain must leave a quorum of Sentinels"
    # A data node's name must resolve while it is not ready yet (loading, or syncing as a replica).
    for doc in (redis, sentinels):
        (service,) = [s for s in find(docs, "Service") if s["metadata"]["name"] == doc["spec"]["serviceName"]]
        assert service["spec"].get("publishNotReadyAddresses") is True


def test_k8s_ha_start_scripts_follow_the_sentinels(tmp_path: Path) -> None:
    docs = render("ha")
    redis_sh, sentinel_sh = ha_script(docs, "redis.sh"), ha_script(docs, "sentinel.sh")
    domain = "thinkstream.svc.cluster.local"
    password = "0123abcd" * 8
    node = {"POD_NAMESPACE": "thinkstream", "REDIS_PASSWORD": password}
    first = f"thinkstream-redis-0.thinkstream-redis.{domain}"
    # The password reaches each node on stdin, for its clients and for replicating the primary.
    config = f"config: requirepass {password}\nconfig: masterauth {password}\n"
    # The very first start: no Sentinel answers; pod 0 is the primary, pod 1 its replica.
    assert run_script(tmp_path, redis_sh, ["--appendonly", "yes"], {**node, "POD_NAME": "thinkstream-redis-0"}) == (
        f"{config}redis-server - --appendonly yes --replica-announce-ip {first}"
    )
    assert run_script(tmp_path, redis_sh, ["--appendonly", "yes"], {**node, "POD_NAME": "thinkstream-redis-1"}) == (
        f"{config}redis-server - --appendonly yes --replica-announce-ip thinkstream-redis-1.thinkstream-redis.{domain}"
        f" --replicaof {first} 6379"
    )
    # After a failover pod 1 is the primary: pod 0 comes back as its replica.
    second = f"thinkstream-redis-1.thinkstream-redis.{domain}"
    restarted = run_script(tmp_path, redis_sh, [], {**node, "POD_NAME": "thinkstream-redis-0"}, primary=second)
    assert restarted.endswith(f"--replicaof {second} 6379")
    # A Sentinel monitors what the others say is the primary, else pod 0.
    data = tmp_path / "data"
    data.mkdir()
    local = sentinel_sh.replace("/data", str(data))
    for primary, expected in (("", first), (second, second)):
        out = run_script(tmp_path, local, [], {**node, "POD_NAME": "thinkstream-sentinel-1"}, primary=primary)
        assert out == f"redis-server {data}/sentinel.conf --sentinel"
        conf = (data / "sentinel.conf").read_text()
        assert f"sentinel monitor thinkstream {expected} 6379 2" in conf
        assert f"sentinel auth-pass thinkstream {password}" in conf
        assert f"sentinel announce-ip thinkstream-sentinel-1.thinkstream-sentinel.{domain}" in conf


def _secret_env(container: Doc, name: str) -> dict[str, str] | None:
    for entry in container.get("env", []):
        if entry["name"] == name and "secretKeyRef" in entry.get("valueFrom", {}):
            ref: dict[str, str] = entry["valueFrom"]["secretKeyRef"]
            return ref
    return None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_redis_requires_the_password_every_client_reads_from_the_secret(overlay: str) -> None:
    docs = render(overlay)
    secret = {"name": "thinkstream-redis", "key": "password"}
    clients = 0
    for workload in [*find(docs, "Deployment"), *find(docs, "StatefulSet")]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            if container["name"] in ("gateway", "worker", "postproc"):
                assert _secret_env(container, "THINKSTREAM_REDIS_PASSWORD") == secret, workload["metadata"]["name"]
                clients += 1
            elif container["name"] in ("redis", "sentinel"):
                assert _secret_env(container, "REDIS_PASSWORD") == secret
                assert "$REDIS_PASSWORD" not in " ".join(container.get("args", []))
    assert clients >= 3
    auths = {a["metadata"]["name"]: a for a in find(docs, "TriggerAuthentication")}
    for scaled in find(docs, "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"].startswith("redis"):
                (target,) = auths[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
                assert target == {"parameter": "password", **secret}


def test_k8s_redis_started_as_the_manifest_says_refuses_clients_without_the_password(tmp_path: Path) -> None:
    (redis_set,) = find(render("dev"), "StatefulSet", "thinkstream-redis")
    (container,) = redis_set["spec"]["template"]["spec"]["containers"]
    options = [o for o in container["args"] if o not in ("--maxmemory", "900mb", "--dir", "/data")]
    password = "0123abcd" * 8
    assert_refuses_strangers(tmp_path, [*container["command"], *options], {"REDIS_PASSWORD": password}, password)
