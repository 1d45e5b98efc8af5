"""dora: a dataflow framework for robotics and AI.

A Python node::

    from dora import Node

    node = Node()
    for event in node:
        if event.type == "INPUT":
            node.send_output("out", event.data, event.metadata)

A Python operator is a file with ``class Operator`` whose
``on_event(self, event, send_output)`` handles one event; list it under
``python:`` in a node's ``operators:``. ``event.metadata`` holds the
parameters of the message, and ``send_output(output_id, data,
metadata=None)`` sends its own::

    class Operator:
        def on_event(self, event, send_output):
            if event.type == "INPUT":
                send_output("out", event.data, event.metadata)
"""

from ._dora import Event, Node, OutputBuffer

__all__ = ["Event", "Node", "OutputBuffer", "Status"]


class Status:
    """What an operator's ``on_event`` may return (None means CONTINUE)."""

    CONTINUE = 0
    """Keep sending events."""
    STOP = 1
    """This operator is done; it gets no more events."""
    STOP_ALL = 2
    """Stop every operator of the runtime."""
