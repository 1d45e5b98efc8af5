"""Reads a temperature at each tick: prints it, and warns when it is high."""

import logging

from dora import Node

log = logging.getLogger("sensor")
node = Node()
count = 0
for event in node:
    if event.type != "INPUT":
        continue
    count += 1
    temperature = 20 + count % 10
    print(f"temperature {temperature}", flush=True)
    log.debug("read %d values", count)  # below min_log_level: never written
    if temperature >= 28:
        log.warning("hot: %d C", temperature, extra={"fields": {"celsius": temperature}})
