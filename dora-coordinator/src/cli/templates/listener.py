"""Prints every greeting it receives."""

from dora import Node

node = Node()
for event in node:
    if event.type == "INPUT" and event.id == "greeting":
        print(bytes(event.data).decode(), flush=True)
