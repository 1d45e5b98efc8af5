"""Answers every message with its text reversed, written in place in
shared memory, and passes the sender's `count` on."""

from dora import Node

node = Node()
for event in node:
    if event.type == "INPUT":
        text = bytes(event.data)[::-1]
        with node.output_buffer("reversed", len(text), event.metadata) as buffer:
            buffer[:] = text
        print(f"reversed message {event.metadata.get('count')}")
