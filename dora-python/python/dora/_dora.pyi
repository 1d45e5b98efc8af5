"""Type stubs of the native module (re-exported by ``dora``)."""

from types import TracebackType
from typing import Any, Iterator, Literal, Optional, Type, Union

Metadata = dict[str, Union[str, int, float, bool, bytes]]

class Event:
    """One event of a node or an operator."""

    type: Literal["INPUT", "INPUT_CLOSED", "INPUT_RECOVERED", "STOP", "ERROR"]
    """What happened."""
    id: Optional[str]
    """The input, for INPUT, INPUT_CLOSED and INPUT_RECOVERED."""
    data: Optional[memoryview]
    """The message, read-only and in place (INPUT only): in shared memory,
    or, for an operator's input from another operator of its runtime, in
    that runtime's memory. ``numpy.frombuffer(event.data, dtype)`` copies
    nothing. The view keeps the message alive for as long as it is
    referenced, past ``on_event`` and on any thread; only a few messages of
    one input are held in shared memory at once, the next ones arrive as
    copies, so drop views when done."""
    metadata: Metadata
    """The parameters the sender attached."""
    timestamp_ns: Optional[int]
    """When the message was sent, in nanoseconds since the Unix epoch."""
    error: Optional[str]
    """What went wrong (ERROR only)."""
    def __getitem__(self, key: str) -> Any:
        """``event["type"]``, ``["id"]``, ``["value"]`` (the data),
        ``["metadata"]``, ``["error"]``."""

class Store:
    """A key-value store the runtime keeps for operators: ``str`` keys;
    values go in as anything with the buffer protocol (bytes, bytearray,
    memoryview, a numpy array; else TypeError) and come out as ``bytes``
    copies. Usable during the ``on_event`` call that got it only (else
    RuntimeError)."""

    def __getitem__(self, key: str) -> bytes:
        """The value of ``key``; KeyError when it was never set."""
    def get(self, key: str, default: Any = None) -> Union[bytes, Any]:
        """The value of ``key``, or ``default`` when it was never set."""
    def __setitem__(self, key: str, value: Any) -> None:
        """Sets ``key`` to a copy of the bytes of ``value``."""
    def __contains__(self, key: str) -> bool: ...

class OperatorContext:
    """What ``on_event(self, event, send_output, context)`` gets as its
    fourth argument, valid during that call only."""

    operator_id: str
    """The operator's id in the dataflow."""
    state: Store
    """The operator's own store: the runtime keeps it when it restarts the
    operator after an exception, so a fresh instance finds it."""
    shared: Store
    """One store for every operator of the runtime node (Python, Rust and
    C alike)."""

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

def log(
    level: str,
    message: str,
    target: Optional[str] = None,
    file: Optional[str] = None,
    line: Optional[int] = None,
    fields: Optional[str] = None,
) -> None:
    """Logs ``message`` at ``level`` ("error", "warn", "info", "debug" or
    "trace"); ``fields`` is a JSON object of values that go with it."""

def min_log_level() -> str:
    """The node's ``min_log_level`` ("stdout" when it has none)."""
