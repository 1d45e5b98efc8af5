"""Type stubs of the native module (re-exported by ``dora``)."""

from types import TracebackType
from typing import Any, Iterator, Literal, Optional, Type, Union

Metadata = dict[str, Union[str, int, float, bool, bytes]]

class Event:
    """One event of a node or an operator."""

    type: Literal["INPUT", "INPUT_CLOSED", "STOP", "ERROR"]
    """What happened."""
    id: Optional[str]
    """The input, for INPUT and INPUT_CLOSED."""
    data: Optional[memoryview]
    """The message, read-only and in place in shared memory (INPUT only):
    ``numpy.frombuffer(event.data, dtype)`` copies nothing. A node may hold
    only a few messages of one input at once: drop them when done."""
    metadata: Metadata
    """The parameters the sender attached."""
    timestamp_ns: Optional[int]
    """When the message was sent, in nanoseconds since the Unix epoch."""
    error: Optional[str]
    """What went wrong (ERROR only)."""
    def __getitem__(self, key: str) -> Any:
        """``event["type"]``, ``["id"]``, ``["value"]`` (the data),
        ``["metadata"]``, ``["error"]``."""

class OutputBuffer:
    """A message being written in place; see ``Node.output_buffer``."""

    def __enter__(self) -> memoryview: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

class Node:
    """A node of the dataflow that ``dora run`` started this process for.

    ``Node()`` returns once every node is connected, so nothing sent after
    it is lost. Started outside ``dora run``, it raises RuntimeError that
    says how to start it. Waiting for events releases the GIL, and Ctrl-C
    raises KeyboardInterrupt promptly."""

    def __init__(self) -> None: ...
    def next(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event; waits at most ``timeout`` seconds (for ever if
        None). None when none came in time, or when the events have ended."""
    def __iter__(self) -> Iterator[Event]: ...
    def __next__(self) -> Event: ...
    def send_output(
        self, output_id: str, data: Any, metadata: Optional[Metadata] = None
    ) -> None:
        """Sends ``data`` (bytes, bytearray, memoryview, a numpy array:
        anything with the buffer protocol; else TypeError) on
        ``output_id``, with ``metadata``. One copy, into shared memory."""
    def output_buffer(
        self, output_id: str, length: int, metadata: Optional[Metadata] = None
    ) -> OutputBuffer:
        """A writable buffer in shared memory for a ``with`` block; the
        message is sent, with no copy, when the block ends without an
        exception. It is not cleared first: write every byte."""

def run_cli(args: list[str]) -> int:
    """Runs the ``dora`` command; returns its exit code."""

def run_runtime() -> bool:
    """Hosts the operators of a runtime node; True if all went well."""
