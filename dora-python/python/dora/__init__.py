"""dora: a dataflow framework for robotics and AI.

A Python node::

    from dora import Node

    node = Node()
    for event in node:
        if event.type == "INPUT":
            node.send_output("out", event.data, event.metadata)

Logs: ``logging.info(...)`` and the other ``logging`` calls reach ``dora
run`` as records with their level once ``Node()`` has returned (see
``LogHandler``); ``dora.log("warn", "text")`` logs one directly.

A Python operator is a file with ``class Operator`` whose
``on_event(self, event, send_output)`` handles one event; list it under
``python:`` in a node's ``operators:``. ``event.data`` is a read-only
memoryview over the message, in place, that may be kept past the call;
``event.metadata`` holds the parameters of the message, and
``send_output(output_id, data, metadata=None)`` sends its own. With a
fourth parameter, ``on_event`` also gets a ``context``:
``context.state`` is the operator's own store, kept across a restart
after an exception, and ``context.shared`` one store for every operator
of the runtime; keys are str, values go in as bytes-like objects and
come out as bytes::

    class Operator:
        def on_event(self, event, send_output, context):
            if event.type == "INPUT":
                count = int.from_bytes(context.state.get("count", b""), "little") + 1
                context.state["count"] = count.to_bytes(8, "little")
                send_output("out", event.data, event.metadata)
"""

from ._dora import Event, Node, OperatorContext, OutputBuffer, Store, log
from ._log import LogHandler

__all__ = ["Event", "LogHandler", "Node", "OperatorContext", "OutputBuffer", "Status", "Store", "log"]


class Status:
    """What an operator's ``on_event`` may return (None means CONTINUE)."""

    CONTINUE = 0
    """Keep sending events."""
    STOP = 1
    """This operator is done; it gets no more events."""
    STOP_ALL = 2
    """Stop every operator of the runtime."""
