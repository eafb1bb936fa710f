"""`thinkstream keys new` and the gateway's refusal to listen openly without keys."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.cli.main import _refuse_open_listen, main
from shared.apikeys import ApiKeys, key_entry, new_key
from shared.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("THINKSTREAM_API_KEYS_FILE", "THINKSTREAM_API_KEY_HASHES", "THINKSTREAM_ALLOW_NO_AUTH"):
        monkeypatch.delenv(name, raising=False)


def test_cli_keys_new_prints_the_key_once_and_stores_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.txt"
    assert main(["keys", "new", "alice", "--file", str(path)]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("ts-") and len(key) > 40 and out == key + "\n", "stdout is the key alone"
    assert "not shown again" in err
    assert key not in path.read_text(), "only the hash is stored"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["keys", "new", "bob", "--file", str(path)]) == 0
    second = capsys.readouterr().out.strip()
    keys = ApiKeys.parse(path.read_text(), str(path))
    assert (keys.identify(key), keys.identify(second)) == ("alice", "bob")


def test_cli_keys_new_refuses_a_taken_or_bad_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("# ours\n" + key_entry("alice", new_key()))  # no final new line
    before = path.read_text()
    assert main(["keys", "new", "alice", "--file", str(path)]) == 2
    assert "already has a key named 'alice'" in capsys.readouterr().err
    assert main(["keys", "new", "al ice", "--file", str(path)]) == 2
    assert path.read_text() == before
    assert main(["keys", "new", "carol", "--file", str(path)]) == 0
    assert set(ApiKeys.parse(path.read_text(), "keys").digests) == {"alice", "carol"}


def test_cli_keys_new_uses_the_setting_or_prints_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "new", "alice"]) == 0
    out, err = capsys.readouterr()
    (entry,) = [line for line in err.splitlines() if line.startswith("alice:")]
    assert ApiKeys.parse(entry, "stderr").identify(out.strip()) == "alice"
    path = tmp_path / "from-setting.txt"
    monkeypatch.setenv("THINKSTREAM_API_KEYS_FILE", str(path))
    assert main(["keys", "new", "bob"]) == 0
    assert ApiKeys.parse(path.read_text(), "keys").identify(capsys.readouterr().out.strip()) == "bob"


@pytest.mark.parametrize("command", ["gateway", "up"])
def test_cli_refuses_to_listen_openly_without_keys(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--redis-url", "redis://127.0.0.1:1", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert f"thinkstream {command}: refusing to listen on 0.0.0.0 without API keys" in err
    assert "--insecure-no-auth" in err


def test_cli_listen_check_passes_with_keys_loopback_or_the_flag(tmp_path: Path) -> None:
    hashes = key_entry("alice", new_key())
    for settings in (
        Settings(host="0.0.0.0", api_key_hashes=hashes),
        Settings(host="127.0.0.1"),
        Settings(host="::1"),
        Settings(host="0.0.0.0", allow_no_auth=True),
    ):
        assert _refuse_open_listen(settings, "gateway") == 0, settings.host


def test_cli_malformed_key_hashes_stop_the_gateway(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THINKSTREAM_API_KEY_HASHES", "alice:my-secret-key")
    assert main(["gateway", "--redis-url", "redis://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "NAME:SHA256HEX" in err and "my-secret-key" not in err


def test_keys_new_with_a_priority_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys"
    assert main(["keys", "new", "bulk", "--file", str(path), "--priority", "low", "--max-priority", "normal"]) == 0
    key = capsys.readouterr().out.strip()
    keys = ApiKeys.parse(path.read_text(), str(path))
    assert keys.identify(key) == "bulk"
    assert keys.policy("bulk").resolve(None) == "low"
    assert main(["keys", "new", "odd", "--file", str(path), "--priority", "high", "--max-priority", "low"]) == 2
