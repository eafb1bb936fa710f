"""`thinkstream pull` against a local server that answers like the Hugging Face Hub and
ModelScope: the real command in its own process, a download cut off and resumed with a Range,
the SHA-256 checked, and the errors a person meets (no network, a wrong name, a corrupt file)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gguf
import pytest

from services.runtime.redis_server import free_port
from shared.settings import embedded_model_path
from tests.support.fake_hub import FakeHub

pytestmark = pytest.mark.integration

REPO = "unsloth/Qwen3-1.7B-GGUF"
FILE = "Qwen3-1.7B-Q4_K_M.gguf"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as running:
        yield running


def pull(tmp_path: Path, *args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "MODELSCOPE_DOMAIN": endpoint,
        "THINKSTREAM_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "pull", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_pull_interrupted_download_resumes_where_it_stopped(tmp_path: Path, hub: FakeHub) -> None:
    model = embedded_model_path().read_bytes()
    sha = hub.add("HuggingFaceTB/SmolLM2-GGUF", "smol.gguf", model)
    cut = hub.cut_after = len(model) * 2 // 5
    first = pull(tmp_path, "HuggingFaceTB/SmolLM2-GGUF", "smol.gguf", endpoint=hub.url)
    assert first.returncode == 1
    assert "run the same command again to resume" in first.stderr
    folder = tmp_path / "data" / "models"
    kept = (folder / "smol.gguf.part").stat().st_size
    assert 0 < kept <= cut, "what arrived before the break is kept"
    assert not (folder / "smol.gguf").exists()

    second = pull(tmp_path, "HuggingFaceTB/SmolLM2-GGUF", "smol.gguf", endpoint=hub.url)
    assert second.returncode == 0, second.stderr
    assert hub.ranges == [None, f"bytes={kept}-"], "the second run asked only for the rest"
    pulled = folder / "smol.gguf"
    assert hashlib.sha256(pulled.read_bytes()).hexdigest() == sha
    assert "SHA-256 verified" in second.stdout and f"--model smol={pulled}" in second.stderr
    assert not (folder / "smol.gguf.part").exists()
    assert gguf.GGUFReader(pulled).get_field(gguf.Keys.General.ARCHITECTURE) is not None


def test_pull_short_name_from_modelscope(tmp_path: Path, hub: FakeHub) -> None:
    content = os.urandom(3 << 20)
    hub.add(REPO, FILE, content)
    done = pull(tmp_path, "qwen3-1.7b", "--source", "modelscope", "--dir", str(tmp_path / "m"), endpoint=hub.url)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m" / FILE).read_bytes() == content
    assert "SHA-256 verified" in done.stdout


def test_pull_corrupt_download_is_deleted_and_said(tmp_path: Path, hub: FakeHub) -> None:
    hub.add(REPO, FILE, os.urandom(1 << 20))
    hub.tamper = True
    failed = pull(tmp_path, REPO, FILE, endpoint=hub.url)
    assert failed.returncode == 1 and "is not the published" in failed.stderr
    assert list((tmp_path / "data" / "models").iterdir()) == []


@pytest.mark.parametrize("source", ["huggingface", "modelscope"])
def test_pull_missing_file_or_repository_says_which(tmp_path: Path, hub: FakeHub, source: str) -> None:
    hub.add(REPO, FILE, b"x" * 100)
    no_file = pull(tmp_path, REPO, "Qwen3-1.7B-Q9.gguf", "--source", source, endpoint=hub.url)
    assert no_file.returncode == 1 and "has no file 'Qwen3-1.7B-Q9.gguf'" in no_file.stderr
    no_repo = pull(tmp_path, "nobody/nothing", FILE, "--source", source, endpoint=hub.url)
    assert no_repo.returncode == 1 and "no repository 'nobody/nothing'" in no_repo.stderr


def test_pull_offline_says_the_hub_cannot_be_reached(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    failed = pull(tmp_path, "qwen3-1.7b", endpoint=closed)
    assert failed.returncode == 1
    assert "cannot reach" in failed.stderr and "HF_ENDPOINT" in failed.stderr


def test_pull_unknown_short_name_lists_the_catalogue(tmp_path: Path) -> None:
    failed = pull(tmp_path, "llama-9000", endpoint="http://127.0.0.1:9")
    assert failed.returncode == 2 and "qwen3-1.7b" in failed.stderr
