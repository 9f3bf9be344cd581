"""One log format for every line a server prints: Dockyard's own and Granian's.

`--json-logs` makes each line one JSON object (for a log store); otherwise lines are
``time level logger: message key=value...``. Granian configures its loggers itself when it
starts, so :func:`granian_log_config` hands it the same formatter rather than patching
them afterwards.
"""

from __future__ import annotations

import json
import logging
from typing import Any

# Request fields an access line (or any line logged with them as ``extra``) carries.
REQUEST_FIELDS = (
    "request_id",
    "client",
    "method",
    "path",
    "door",
    "action",
    "repository",
    "principal",
    "status",
    "error",
    "duration_ms",
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Granian's one start-up warning that says nothing actionable; see EmbeddedServerNotice.
EMBEDDED_WARNING = "Embedded server is experimental!"
EMBEDDED_EXPLAINED = (
    "one worker: served in this process by Granian's embedded server (Granian labels it "
    "experimental; --workers 2 or more runs its supervised worker processes instead)"
)


def _request_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name in REQUEST_FIELDS if (value := getattr(record, name, None)) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to ship to any log store."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_request_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message``, then the request fields the message does not already show."""

    _IN_MESSAGE = frozenset({"method", "path", "status", "duration_ms", "client"})

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{k}={v}" for k, v in _request_fields(record).items() if k not in self._IN_MESSAGE]
        return f"{line} {' '.join(fields)}" if fields else line


class EmbeddedServerNotice(logging.Filter):
    """Turns Granian's bare "experimental" warning into one line saying what it means here."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == EMBEDDED_WARNING:
            record.msg, record.args = EMBEDDED_EXPLAINED, ()
            record.levelno, record.levelname, record.name = logging.INFO, "INFO", "dockyard.serving"
        return True


def formatter(json_logs: bool) -> logging.Formatter:
    return JsonFormatter() if json_logs else TextFormatter()


def configure_logging(level: str, json_logs: bool) -> None:
    """Dockyard's loggers (``dockyard`` and below) in the one format, on stderr; other libraries'
    warnings (through the root logger) in the same format."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(json_logs))
    ours = logging.getLogger("dockyard")
    ours.handlers[:] = [handler]
    ours.setLevel(level.upper())
    ours.propagate = False
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def granian_log_config(json_logs: bool) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` Granian applies in its supervisor and every worker."""
    factory = "dockyard.logs.JsonFormatter" if json_logs else "dockyard.logs.TextFormatter"
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "dockyard",
        "filters": ["embedded"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"dockyard": {"()": factory}},
        "filters": {"embedded": {"()": "dockyard.logs.EmbeddedServerNotice"}},
        "handlers": {"console": handler},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # Dockyard logs each request itself (dockyard.access), with who and what; Granian's
            # own access log stays off, but would come out in the same format.
            "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
