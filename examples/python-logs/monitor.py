"""Takes the sensor's printed readings and the dataflow's warnings as
messages, and says what it got."""

import json

from dora import Node

node = Node()
readings, warnings = 0, 0
for event in node:
    if event.type != "INPUT":
        continue
    text = bytes(event.data).decode()
    if event.id == "readings":
        readings += 1
        print(f"reading {readings}: {text}", flush=True)
    else:
        warning = json.loads(text)
        warnings += 1
        print(
            f"warning {warnings} from {warning['node']}: {warning['message']} {warning.get('fields', {})}",
            flush=True,
        )
