"""The Python half of dora-bench: the latency runs of the Rust node
harness (src/main.rs), through the dora Python package. `bench.py sender`
sends; `bench.py receiver` writes its latencies where DORA_BENCH_RESULTS
says, in the format of report.rs. SIZES, samples() and the gap must match
main.rs."""

import os
import sys
import time

from dora import Node

SIZES = [8, 4 << 10, 64 << 10, 1 << 20, 4 << 20, 40 << 20]
ONES = memoryview(b"\x01" * SIZES[-1])


def samples(size: int) -> int:
    return 60 if size >= 4 << 20 else 300


def sender(node: Node) -> None:
    for size in SIZES:
        for _ in range(samples(size)):
            # Written in place; the timestamp is taken when the block ends.
            with node.output_buffer("latency", size) as buffer:
                buffer[:] = ONES[:size]
            time.sleep(0.001)


def receiver(node: Node) -> None:
    latencies: dict[int, list[int]] = {size: [] for size in SIZES}
    for event in node:
        if event.type == "INPUT":
            now = time.time_ns()
            latencies[len(event.data)].append(now - event.timestamp_ns)
    with open(os.environ["DORA_BENCH_RESULTS"], "w") as out:
        for size, values in latencies.items():
            out.write(f"latency {size} {' '.join(str(max(v, 0)) for v in values)}\n")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("sender", "receiver"):
        sys.exit("usage: bench.py sender|receiver (started by dora-bench)")
    node = Node()
    sender(node) if mode == "sender" else receiver(node)
