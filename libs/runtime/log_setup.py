"""Logging is configured here and nowhere else: once per process, at start-up.

Two formats, one switch (`<PREFIX>_LOG_FORMAT`): `text` for a terminal, `json` for a log
pipeline, one JSON object per line (python-json-logger) with the time, level, logger, message,
and, while a gRPC call is handled, its method, the caller's `x-request-id` and the trace id of
the request (tracing on). Both formats carry the request and trace ids when there are some."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from libs.runtime.call_context import current_method, current_request_id
from libs.runtime.tracing import current_trace_id

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(call_ids)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message", "grpc_method", "request_id", "trace_id"]
FORMATS = ("text", "json")


class CallIds(logging.Filter):
    """Adds the call's method, request id and trace id to every record (read when a line is
    written, never per call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id, trace_id = current_request_id(), current_trace_id()
        record.grpc_method = current_method()
        record.request_id = request_id
        record.trace_id = trace_id
        ids = [f"{k}={v}" for k, v in (("request_id", request_id), ("trace_id", trace_id)) if v]
        record.call_ids = f" [{' '.join(ids)}]" if ids else ""
        return True


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
            reserved_attrs=[*RESERVED_ATTRS, "call_ids"],  # the text format's suffix
        )
    if log_format == "text":
        return logging.Formatter(FORMAT)
    raise ValueError(f"log format must be one of {FORMATS}, not {log_format!r}")


def configure_logging(level: str | int, log_format: str = "text", *, replace: bool = False) -> None:
    """Root logging at `level` to stderr in `log_format`. A second call changes nothing, unless
    `replace`: for a framework that set up handlers of its own meanwhile (faust's worker)."""
    root = logging.getLogger()
    if root.handlers and not replace:
        return
    root.handlers.clear()
    # faust's worker also redirects sys.stderr into logging: write to the real one.
    handler = logging.StreamHandler(sys.__stderr__ if replace else sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(CallIds())
    root.addHandler(handler)
    root.setLevel(level)
