"""Logging set-up: human text by default, one JSON object per line on request."""

from __future__ import annotations

import json
import logging
import sys

from sidecar.model.clock import iso
from sidecar.model.text import escape


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": iso(int(record.created * 1e9)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """One line per record, whatever a name in it holds (escaped: model/text.py)."""

    def format(self, record: logging.LogRecord) -> str:
        when = self.formatTime(record, "%H:%M:%S")
        base = f"{when} {record.levelname.lower():7} {escape(record.getMessage())}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            base += " " + " ".join(f"{k}={escape(str(v))}" for k, v in fields.items())
        if record.exc_info and record.exc_info[1] is not None:
            e = record.exc_info[1]
            base += f" error={escape(f'{type(e).__name__}: {e}')}"
        return base


def setup(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
