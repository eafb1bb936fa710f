"""The Grafana dashboard beside the Kubernetes files (k8s/components/grafana-dashboard): a
well-formed dashboard whose every expression names metrics, and labels of them, that the gateway's
/metrics really exports, rendered from a cluster in (fake) Redis with a worker, a checker, a
finished and a failed job and an open stream; and the component puts it in a ConfigMap that
Grafana's sidecar loads."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.metrics import GatewayMetrics
from services.runtime.heartbeat import Heartbeat
from services.runtime.load import LoadMeter
from shared import keys, stats
from shared.models import WorkerModel
from shared.schemas import CheckReport, InferenceResult, Timings, Usage
from shared.settings import Settings
from tests.support.kubectl import kubectl as find_kubectl

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "k8s" / "components" / "grafana-dashboard"
DASHBOARD = COMPONENT / "thinkstream.json"
GRID_COLUMNS = 24
TARGET_LABELS = {"instance", "job"}
"""Labels Prometheus adds to every series it scrapes."""
METRIC = re.compile(r"(?<![\w:$])((?:thinkstream|process)_[A-Za-z0-9_:]*)")
SELECTOR = re.compile(r"((?:thinkstream|process)_[A-Za-z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*([\w:]+)\s*,\s*(\w+)\s*\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
Doc = dict[str, Any]


def dashboard() -> Doc:
    loaded: Doc = json.loads(DASHBOARD.read_text())
    return loaded


def targets(doc: Doc) -> list[tuple[str, Doc]]:
    return [(panel["title"], target) for panel in doc["panels"] for target in panel.get("targets", [])]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Sample name → its label names, from /metrics of a gateway over a cluster with a bit of
    everything in it."""
    redis = fakeredis.FakeRedis()
    settings = Settings(redis_url="redis://fake", data_dir=tmp_path_factory.mktemp("metrics"))
    model = settings.served_model_name
    load = LoadMeter(window_s=5)
    declared = WorkerModel(name=model, file="/models/m.gguf", n_ctx=64)
    info = {"model": model, "declaration": declared.model_dump_json()}
    heartbeat = Heartbeat(redis, kind="inference", worker_id="w1", info=info, interval_s=60, ttl_s=10, load=load)
    with load.job():
        load.generated(50)
        heartbeat.beat()
    redis.zadd(keys.live_workers_key("postproc"), {"c1": time.time()})
    result = InferenceResult(
        finish_reason="stop",
        reasoning_end="model",
        usage=Usage(prompt_tokens=10, reasoning_tokens=30, answer_tokens=5),
        timings=Timings(queued_ms=50, ttft_ms=300, total_ms=2_000, tokens_per_s=30.0),
    )
    stats.record_job(redis, worker_id="w1", result=result, report=CheckReport(verdict="pass"), ttl_s=60)
    stats.record_failure(redis, "worker_lost")
    metrics = GatewayMetrics(settings, redis)
    with metrics.sse_client("jobs"):
        text = metrics.render().decode()
    labels: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels[sample.name] |= set(sample.labels)
    return dict(labels)


def test_grafana_dashboard_is_well_formed() -> None:
    doc = dashboard()
    assert doc["uid"] and len(doc["uid"]) <= 40 and doc["title"]
    assert isinstance(doc["schemaVersion"], int)
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = doc["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    for panel in panels:
        assert panel["type"] in {"stat", "timeseries", "gauge", "table", "bargauge"}, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert panel["targets"] and len(set(ref_ids)) == len(ref_ids), panel["title"]
    for one, two in combinations(panels, 2):
        a, b = one["gridPos"], two["gridPos"]
        apart = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"]
        assert apart or b["y"] + b["h"] <= a["y"], f"{one['title']!r} overlaps {two['title']!r}"


def problems_of(doc: Doc, labels: dict[str, set[str]]) -> list[str]:
    """What in the dashboard's expressions the exported metrics (`labels`) do not have."""
    problems = []
    for title, target in targets(doc):
        expr = target["expr"]
        names = set(METRIC.findall(expr))
        if not names:
            problems.append(f"{title}: {expr!r} names no thinkstream metric")
        problems += [f"{title}: {name} is not exported" for name in sorted(names - set(labels))]
        known = set().union(*(labels.get(name, set()) for name in names)) | TARGET_LABELS
        for name, matchers in SELECTOR.findall(expr):
            problems += [
                f"{title}: {name} has no label {label!r}"
                for label in MATCHER.findall(matchers)
                if label not in labels.get(name, set())
            ]
        groupings = [[g.strip() for g in group.split(",") if g.strip()] for group in GROUPING.findall(expr)]
        problems += [f"{title}: no metric has label {g!r}" for group in groupings for g in group if g not in known]
        # The legend names labels that the outermost aggregation keeps.
        kept = set(groupings[0]) if groupings else set()
        problems += [
            f"{title}: the legend's {label!r} is not kept"
            for label in LEGEND_LABEL.findall(target.get("legendFormat", ""))
            if label not in kept
        ]
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query":
            found = LABEL_VALUES.fullmatch(variable["definition"])
            if found is None or found.group(2) not in labels.get(found.group(1), set()):
                problems.append(f"variable {variable['name']}: {variable['definition']!r} names no exported label")
    return problems


def test_grafana_dashboard_names_only_metrics_and_labels_the_gateway_exports(exported: dict[str, set[str]]) -> None:
    assert problems_of(dashboard(), exported) == []
    used = {name for _, target in targets(dashboard()) for name in METRIC.findall(target["expr"])}
    assert {"thinkstream_worker_tokens_per_second", "thinkstream_queue_depth", "thinkstream_jobs_running"} <= used


def test_grafana_dashboard_check_finds_misspelt_metrics_and_labels(exported: dict[str, set[str]]) -> None:
    doc = dashboard()
    panel = doc["panels"][0]
    panel["targets"] = [
        {"refId": "A", "expr": "sum(thinkstream_worker_tokens_per_sec)", "legendFormat": ""},
        {"refId": "B", "expr": 'max(thinkstream_queue_depth{models="m"})', "legendFormat": ""},
        {"refId": "C", "expr": "max by (workr) (thinkstream_worker_slots)", "legendFormat": ""},
        {"refId": "D", "expr": "max by (model) (thinkstream_worker_slots)", "legendFormat": "{{worker}}"},
        {"refId": "E", "expr": "vector(1)", "legendFormat": ""},
    ]
    title = panel["title"]
    assert problems_of(doc, exported) == [
        f"{title}: thinkstream_worker_tokens_per_sec is not exported",
        f"{title}: thinkstream_queue_depth has no label 'models'",
        f"{title}: no metric has label 'workr'",
        f"{title}: the legend's 'worker' is not kept",
        f"{title}: 'vector(1)' names no thinkstream metric",
    ]


def test_grafana_dashboard_component_renders_it_into_a_labelled_config_map() -> None:
    kubectl = find_kubectl()
    done = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "k8s" / "overlays" / "prod")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    maps = [
        d
        for d in yaml.safe_load_all(done.stdout)
        if d and d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert len(maps) == 1
    assert maps[0]["metadata"]["namespace"] == "thinkstream"
    assert json.loads(maps[0]["data"]["thinkstream.json"]) == dashboard()
