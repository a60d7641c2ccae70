"""Logs as JSON lines that hold no patient data, no token and no forged line.

One line per request from `AccessLog`: request id, method, route template (never the raw path or the query),
status, duration and a short allow-list of headers. Every value is JSON-escaped, so a newline or an escape
sequence sent in a request cannot start a line of its own. Exceptions are logged by type and stack frames only:
their messages (a pydantic error quoting its input, say) are where request values leak. `Redact` runs on every
handler and logger as a second guard, masking tokens, identifiers and queries that a message might still carry.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "plugin.access"
# Request headers a line may carry: none of free text a caller could fill with a patient's name. A caller's
# X-Request-Id is kept only when it is a UUID (a proxy's trace id); anything else gets one of ours.
HEADER_ALLOW_LIST = ("content-length",)
REQUEST_ID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
# Loggers of libraries that log request data below these levels (httpx each FHIR URL at INFO, the MCP SDK each
# message at DEBUG; at INFO it names a rejected tool call's fields, never their values).
QUIET_LIBRARIES = {
    "httpx": "WARNING",
    "httpcore": "WARNING",
    "mcp": "INFO",
    "sse_starlette": "WARNING",
    "fhir": "WARNING",
    "fhir_core": "WARNING",
    "joserfc": "WARNING",
    "asyncio": "WARNING",
}
REDACTED = "[redacted]"
SECRETS = [
    (re.compile(r"(?i)\bbearer\s+[^\s\"',;]+"), f"Bearer {REDACTED}"),
    (re.compile(r"\beyJ[\w-]*\.[\w-]*\.[\w-]*"), REDACTED),  # a JWT
    (re.compile(r"input_value=.*?(?=, input_type=|\]$|$)", re.MULTILINE), f"input_value={REDACTED}"),
    (
        re.compile(
            r"(?i)(\b(?:access_token|id_token|refresh_token|token|authorization|password|secret|patient_?id|patient|"
            r"subject|mrn|identifier|birth_?date|name|family|given)['\"]?\s*[:=]\s*)(['\"]?)[^'\",\s}&\]]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"\b(Patient|Person|RelatedPerson)/[^\s/?\"',]+"), rf"\1/{REDACTED}"),
    (re.compile(r"(https?://[^\s?\"']*)\?[^\s\"']*"), rf"\1?{REDACTED}"),
    (re.compile(r"\bMRN[-\w]*", re.IGNORECASE), REDACTED),
]


def lean_records() -> None:
    """Skip what no line shows: the caller's file and line (a stack walk per record), thread and process names
    (the logging HOWTO's "Optimization" settings). Done on import, so every worker that writes these lines has it."""
    logging._srcfile = None  # the documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


lean_records()


@functools.lru_cache(maxsize=4096)
def redact(text: str) -> str:
    """Masked text; remembered, since most messages are the same few constants ("request" on every access line)."""
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """The second guard: the message is formatted here, masked, and its arguments dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line; an exception as its type and frames, never its message."""

    FIELDS = ("request_id", "method", "route", "status", "duration_ms", "headers")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        line.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            line["exception"] = kind.__qualname__
            line["stack"] = [f"{frame.filename}:{frame.lineno} {frame.name}" for frame in traceback.extract_tb(tb)]
        return json.dumps(line, ensure_ascii=True, default=str)


def log_config(level: str) -> dict[str, Any]:
    """The logging set-up of `serve` and `mcp`: JSON lines on stderr, redaction on every handler and logger."""
    plugin_level = level.upper()

    def at_least(floor: str) -> str:
        return str(logging.getLevelName(max(logging.getLevelName(floor), logging.getLevelName(plugin_level))))

    quiet = {name: {"level": at_least(floor), "filters": ["redact"]} for name, floor in QUIET_LIBRARIES.items()}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": Redact}},
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["redact"],
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "plugin": {"level": plugin_level, "filters": ["redact"]},
            "uvicorn": {"level": at_least("INFO"), "filters": ["redact"]},
            "uvicorn.error": {"level": at_least("INFO"), "filters": ["redact"]},
            "uvicorn.access": {"level": "WARNING", "filters": ["redact"]},
            **quiet,
        },
    }


# Told of every request as the access line is (method, route template, status, seconds): the metrics.
Observer = Callable[[str, str, int, float], None]


class AccessLog:
    """Pure ASGI: one line per HTTP request, and its id in the X-Request-Id response header."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.log = logging.getLogger(ACCESS_LOGGER)
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "headers": {name: headers[name][:20] for name in HEADER_ALLOW_LIST if name in headers},
                },
            )
            if self.observe is not None:
                self.observe(scope["method"], template, status, seconds)
