"""Logging setup: one event per line; JSON in production, plain text for people."""

from __future__ import annotations

import json
import logging
import sys
from typing import Literal

from aiohttp.http_exceptions import HttpProcessingError


def printable(text: str, limit: int = 160) -> str:
    """`text` as one printable log line of at most `limit` characters: what a client sent (a
    URL path) may hold a newline that forges a line in a text log, or a terminal escape."""
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + "..." if len(text) > limit else shown


class JsonFormatter(logging.Formatter):
    """Formats log records as one JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line: time, level, logger, message and any traceback."""
        event = {
            "t": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


def setup_logging(fmt: Literal["json", "text"] = "text", level: str = "INFO") -> None:
    """Sends the agent's logs to stderr as JSON or text, at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    install_http_log_filter()


class HttpClientErrorFilter(logging.Filter):
    """Turns aiohttp's "Error handling request" records about a client's malformed HTTP (a NUL
    byte in a header, a bad request line) into one warning line without traceback or the raw
    input: the raw line may hold someone's `Authorization` header, and a traceback per bad
    request would let anyone fill the log. Server-side errors keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Shortens a malformed-request record to one warning; always keeps the record."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused malformed HTTP from %s: %s %s"
            record.args = (remote, exc.code, type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_HTTP_FILTER = HttpClientErrorFilter()


def install_http_log_filter() -> None:
    """Install the filter on aiohttp's server and access loggers (idempotent)."""
    for name in ("aiohttp.server", "aiohttp.access", "aiohttp.web"):
        logger = logging.getLogger(name)
        if _HTTP_FILTER not in logger.filters:
            logger.addFilter(_HTTP_FILTER)
