"""Logging with secrets redacted: every record passes the engine's `Redactor` before any handler."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Callable
from pathlib import Path

LOGGER_NAME = "jobdock"


class RedactingFilter(logging.Filter):
    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self._redact(message)
        record.args = None
        return True


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file. When it cannot be written (a full data disk) the record is dropped
    quietly: logging's default prints a traceback to stderr for every record, which would bury
    the one clear message the engine gives about the disk."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def setup_logging(
    log_file: Path, *, redact: Callable[[str], str], level: int = logging.INFO
) -> logging.Handler:
    """A rotating log file under the data dir; returns the handler so callers can remove it."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = _LogFile(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redact))
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.addHandler(handler)
    return handler


def teardown_logging(handler: logging.Handler) -> None:
    logging.getLogger(LOGGER_NAME).removeHandler(handler)
    handler.close()
