"""Sends a greeting at every tick of its timer."""

from dora import Node

node = Node()
count = 0
for event in node:
    if event.type == "INPUT" and event.id == "tick":
        count += 1
        node.send_output("greeting", f"hello #{count}".encode())
