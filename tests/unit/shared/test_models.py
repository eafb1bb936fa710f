"""How models are configured: the models list (environment or file), `up --model`, the worker's
choice, and the errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.up import worker_counts
from shared.models import load_models_file, parse_model_option
from shared.settings import Settings, embedded_model_path

MODEL = str(embedded_model_path())


def test_models_option_parses_workers_aliases_and_adapters() -> None:
    spec = parse_model_option("qwen=/m/q.gguf,workers=2,n_ctx=8192,alias=deepseek-reasoner,lora=sql=/m/sql.gguf")
    assert (spec.name, str(spec.path), spec.workers, spec.n_ctx) == ("qwen", "/m/q.gguf", 2, 8192)
    assert spec.aliases == ["deepseek-reasoner"] and [(a.name, str(a.path)) for a in spec.adapters] == [
        ("sql", "/m/sql.gguf")
    ]


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("/m/q.gguf", "write NAME=PATH"),
        ("q=/m/q.gguf,workers=two", "whole number"),
        ("q=/m/q.gguf,colour=red", "unknown option 'colour'"),
        ("q=/m/q.gguf,lora=sql", "lora=NAME=PATH"),
        ("bad name=/m/q.gguf", "name"),
    ],
)
def test_models_option_errors_say_what_to_fix(option: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_model_option(option)


def test_models_file_in_toml_with_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text(
        '[[models]]\nname = "r1"\npath = "r1.gguf"\naliases = ["deepseek-reasoner"]\n'
        '[[models]]\nname = "qwen3"\npath = "/abs/qwen3.gguf"\nn_ctx = 8192\n'
        '[[models.adapters]]\nname = "sql"\npath = "loras/sql.gguf"\n'
    )
    first, second = load_models_file(tmp_path / "models.toml")
    assert first.path == tmp_path / "r1.gguf" and str(second.path) == "/abs/qwen3.gguf"
    assert second.adapters[0].path == tmp_path / "loras" / "sql.gguf"


@pytest.mark.parametrize(
    ("text", "words"),
    [("[[models]]\nname = ", "not valid TOML"), ('[[models]]\nname = "x"\n', "path"), ("a = 1\n", "must list")],
)
def test_models_file_errors_name_the_file(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "models.toml").write_text(text)
    with pytest.raises(ValueError, match=words):
        load_models_file(tmp_path / "models.toml")


def test_models_settings_catalog_default_first_and_worker_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    models = [{"name": "a", "path": MODEL, "aliases": ["aa"], "n_ctx": 1024}, {"name": "b", "path": MODEL}]
    monkeypatch.setenv("THINKSTREAM_MODELS", json.dumps(models))
    settings = Settings(n_ctx=2048)
    assert settings.served_model_name == "a"
    assert [(m.name, m.n_ctx) for m in settings.catalog] == [("a", 1024), ("b", 2048)]
    assert Settings(worker_model="aa").worker_spec().name == "a"
    with pytest.raises(ValueError, match="tell the worker which one"):
        settings.worker_spec()
    with pytest.raises(ValueError, match="'zz' is not a configured model"):
        Settings(worker_model="zz")


def test_models_settings_refuse_a_name_used_twice() -> None:
    with pytest.raises(ValueError, match="'x' is used by models 'a' and 'b'"):
        Settings(
            models=[{"name": "a", "path": MODEL, "aliases": ["x"]}, {"name": "b", "path": MODEL, "aliases": ["x"]}]
        )


def test_models_single_model_settings_still_work() -> None:
    settings = Settings(model_name="smol", model_aliases=["deepseek-reasoner"])
    (only,) = settings.catalog
    assert (only.name, only.aliases, only.n_ctx) == ("smol", ["deepseek-reasoner"], settings.n_ctx)
    assert settings.worker_spec() is not None


def test_models_up_counts_workers_per_model(tmp_path: Path) -> None:
    two = Settings(models=[{"name": "a", "path": MODEL, "workers": 2}, {"name": "b", "path": MODEL, "workers": 0}])
    assert worker_counts(two, None) == {"a": 2, "b": 0}
    with pytest.raises(ValueError, match="--workers is for a single model"):
        worker_counts(two, 3)
    assert worker_counts(Settings(), 3) == {Settings().served_model_name: 3}
    missing = Settings(models=[{"name": "a", "path": str(tmp_path / "none.gguf")}])
    with pytest.raises(ValueError, match="is not a file"):
        worker_counts(missing, None)


def test_models_up_batches_a_model_served_by_one_worker_unless_told() -> None:
    from services.cli.up import AUTO_SLOTS, up_slots

    assert up_slots(Settings(), 1) == AUTO_SLOTS, "one worker: slots from the machine"
    assert up_slots(Settings(), 2) == 1, "several workers, as asked: one job each"
    assert up_slots(Settings(slots=3), 1) == 3 and up_slots(Settings(slots=1), 1) == 1, "THINKSTREAM_SLOTS wins"
