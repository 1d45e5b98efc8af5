"""Python's ``logging`` as dora records: levels, logger names, files and
lines reach ``dora run``, which shows them with their level, filters them
by the node's ``min_log_level`` and sends them where the dataflow says
(``send_logs_as``, ``dora/logs``)."""

import json
import logging

from ._dora import log, min_log_level

_LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO,
           "debug": logging.DEBUG, "trace": 5, "stdout": logging.INFO}


def _level_name(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    if levelno >= logging.DEBUG:
        return "debug"
    return "trace"


class LogHandler(logging.Handler):
    """A ``logging`` handler that logs each record through dora.

    ``Node()`` adds one to the root logger when the node has not set up
    logging itself. Values passed as ``extra={"fields": {...}}`` go with
    the record as structured fields."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = getattr(record, "fields", None)
            log(
                _level_name(record.levelno),
                self.format(record),
                record.name,
                record.pathname,
                record.lineno,
                json.dumps(fields, default=str) if fields else None,
            )
        except Exception:
            self.handleError(record)


def install() -> None:
    """Adds a LogHandler to the root logger, at the node's ``min_log_level``
    (``info`` when it has none), unless the root logger has handlers."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(LogHandler())
    root.setLevel(_LEVELS[min_log_level()])
