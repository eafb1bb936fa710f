"""The output file of `thinkstream batch`: one result line per `custom_id`, appended as results
arrive and synced to disk each time, so an interrupted run loses at most the line being written
and a rerun knows exactly which requests are answered."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from shared.batch_api import BatchResultLine


class ResultFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[str, BatchResultLine] = {}
        self.unreadable: list[int] = []
        """Line numbers that are not result lines (left in place, never counted)."""
        if path.exists():
            self._read()

    @property
    def ids(self) -> set[str]:
        return set(self.lines)

    def append(self, line: BatchResultLine) -> bool:
        """Write the line unless its `custom_id` is already in the file; True if written."""
        if line.custom_id in self.lines:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line.model_dump_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.lines[line.custom_id] = line
        return True

    def _read(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):  # a line cut short by a crash: drop it, it is asked again
            data = data[: data.rfind(b"\n") + 1]
            with self.path.open("r+b") as out:
                out.truncate(len(data))
        for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                line = BatchResultLine.model_validate_json(raw)
            except ValidationError:
                self.unreadable.append(number)
                continue
            self.lines.setdefault(line.custom_id, line)
