"""The Python node API on real dataflows."""

import os
import signal
import textwrap
import time

from conftest import node_lines

SHM_RANGES = """
def shm_ranges():
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "/dev/shm/dora_" in line:
                start, end = line.split()[0].split("-")
                ranges.append((int(start, 16), int(end, 16)))
    return ranges
"""


def test_a_numpy_array_goes_through_without_a_copy(run):
    run.write(
        "sender.py",
        """
        import numpy as np
        from dora import Node

        node = Node()
        # Written in place in shared memory.
        with node.output_buffer("array", 4 * 1_000_000, {"n": 1_000_000}) as buffer:
            np.frombuffer(buffer, dtype=np.float32)[:] = np.arange(1_000_000, dtype=np.float32)
        # And sent from an array (one copy).
        node.send_output("array", np.full(1_000, 7, dtype=np.float32), {"n": 1_000})
        """,
    )
    run.write(
        "receiver.py",
        SHM_RANGES
        + textwrap.dedent(
            """
        import numpy as np
        from dora import Node

        node = Node()
        for event in node:
            if event.type != "INPUT":
                continue
            a = np.frombuffer(event.data, dtype=np.float32)
            b = np.frombuffer(event.data, dtype=np.float32)
            in_shm = any(s <= a.ctypes.data < e for s, e in shm_ranges())
            n = event.metadata["n"]
            expected = np.arange(n, dtype=np.float32) if n > 1_000 else np.full(n, 7, dtype=np.float32)
            print(f"n {n} in-shm {in_shm} same-address {a.ctypes.data == b.ctypes.data} "
                  f"equal {np.array_equal(a, expected)} writable {a.flags.writeable}", flush=True)
        """
        ),
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [array]
          - id: receiver
            path: receiver.py
            inputs:
              array: { source: sender/array, queue_policy: backpressure }
        """
    )
    assert code == 0, stderr
    assert node_lines(stdout, "receiver") == [
        "n 1000000 in-shm True same-address True equal True writable False",
        "n 1000 in-shm True same-address True equal True writable False",
    ], stdout + stderr


def test_metadata_goes_through_with_its_types(run):
    metadata = {"s": "héllo", "i": -3, "big": 2**62, "f": 1.5, "t": True, "b": b"\x00\xff"}
    run.write(
        "sender.py",
        f"""
        from dora import Node

        node = Node()
        node.send_output("out", b"x", {metadata!r})
        """,
    )
    run.write(
        "receiver.py",
        """
        from dora import Node

        for event in Node():
            if event.type == "INPUT":
                print(repr(sorted(event.metadata.items())), flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: receiver
            path: receiver.py
            inputs: { out: sender/out }
        """
    )
    assert code == 0, stderr
    assert node_lines(stdout, "receiver") == [repr(sorted(metadata.items()))], stdout + stderr


def test_stop_ends_a_python_node_promptly(run):
    run.write(
        "ticker.py",
        """
        from dora import Node

        node = Node()
        for event in node:
            pass
        print("ended", flush=True)
        """,
    )
    code, stdout, stderr, seconds = run(
        """
        nodes:
          - id: ticker
            path: ticker.py
            inputs: { tick: dora/timer/millis/10 }
        """,
        "--stop-after",
        "1s",
    )
    assert code == 0, stderr
    assert node_lines(stdout, "ticker") == ["ended"], stdout + stderr
    assert seconds < 10, seconds


def test_ctrl_c_interrupts_a_blocked_next(run):
    pid_file = run.folder / "pid"
    run.write(
        "waiter.py",
        f"""
        import os, sys, time
        from dora import Node

        node = Node()
        with open({str(pid_file)!r}, "w") as f:
            f.write(str(os.getpid()))
        try:
            node.next()  # no input: waits until Stop
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """,
    )
    process = run.start(
        """
        nodes:
          - id: waiter
            path: waiter.py
        """
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the node did not start"
        time.sleep(0.05)
    time.sleep(0.2)
    interrupted = time.monotonic()
    os.kill(int(pid_file.read_text()), signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 5
    assert process.returncode == 0, stderr
    assert node_lines(stdout, "waiter") == ["interrupted"], stdout + stderr


def test_ctrl_c_interrupts_node_while_it_waits_for_the_other_nodes(run):
    pid_file = run.folder / "pid"
    run.write(
        "waiter.py",
        f"""
        import os
        from dora import Node

        with open({str(pid_file)!r}, "w") as f:
            f.write(str(os.getpid()))
        try:
            Node()  # `late` never joins: waits for it
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """,
    )
    run.write("late.py", "import time\ntime.sleep(120)\n")
    process = run.start(
        """
        nodes:
          - id: waiter
            path: waiter.py
          - id: late
            path: late.py
        """
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the node did not start"
        time.sleep(0.05)
    time.sleep(0.5)
    interrupted = time.monotonic()
    os.kill(int(pid_file.read_text()), signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 5
    assert node_lines(stdout, "waiter") == ["interrupted"], stdout + stderr
    # The waiter ended before the dataflow started, so the run failed.
    assert process.returncode == 1, stderr


def test_a_wrong_data_type_raises_a_type_error_that_names_the_accepted_types(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        for data, metadata in [(3.14, None), (b"ok", {"k": [1]}), ("text", None)]:
            try:
                node.send_output("out", data, metadata)
            except TypeError as error:
                print(f"TypeError: {error}", flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
        """
    )
    assert code == 0, stderr
    assert node_lines(stdout, "sender") == [
        "TypeError: data must be bytes, bytearray, memoryview or another object with the buffer protocol (a numpy array, say), not float",
        "TypeError: metadata value `k` must be str, int, float, bool or bytes, not list",
        "TypeError: data must be bytes, bytearray, memoryview or another object with the buffer protocol (a numpy array, say), not str",
    ], stdout + stderr


def test_an_undeclared_output_and_a_node_started_by_hand_say_what_to_do(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        try:
            node.send_output("nowhere", b"x")
        except RuntimeError as error:
            print(f"RuntimeError: {error}", flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
        """
    )
    assert code == 0, stderr
    [line] = node_lines(stdout, "sender")
    assert "`nowhere` is not an output of this node" in line and "`out`" in line, line


def test_holding_many_memoryviews_of_one_input_loses_nothing(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        for n in range(20):
            node.send_output("out", bytes([n]) * 1000)
        """,
    )
    run.write(
        "receiver.py",
        """
        from dora import Node

        held = []
        for event in Node():
            if event.type == "INPUT":
                held.append(event.data)
            elif event.type == "ERROR":
                print("error", event.error, flush=True)
        intact = sum(view == bytes([n]) * 1000 for n, view in enumerate(held))
        print(f"held {len(held)} intact {intact}", flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: receiver
            path: receiver.py
            inputs:
              out: { source: sender/out, queue_size: 20 }
        """,
        "--stop-after",
        "60s",
    )
    assert code == 0, stderr
    assert node_lines(stdout, "receiver") == ["held 20 intact 20"], stdout + stderr


def test_a_message_released_on_another_thread_is_freed_for_the_next_ones(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        for n in range(8):
            node.send_output("out", bytes([n]) * 1000)
        """,
    )
    run.write(
        "receiver.py",
        """
        import threading
        from dora import Node

        node = Node()
        held, seen = [], []
        for event in node:
            if event.type != "INPUT":
                continue
            seen.append(event.data.obj.in_place)
            held.append(event.data)
            del event
            if len(held) == 4:
                # The last references go on another thread.
                views, held = held, []
                worker = threading.Thread(target=views.clear)
                worker.start()
                del views
                worker.join()
        print(" ".join("place" if s else "copy" for s in seen), flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: receiver
            path: receiver.py
            inputs:
              out: { source: sender/out, queue_size: 20 }
        """,
        "--stop-after",
        "60s",
    )
    assert code == 0, stderr
    # Three are read in place, the fourth is a copy; once the thread has
    # released them, the next ones are read in place again.
    [line] = node_lines(stdout, "receiver")
    assert line.split()[:5] == ["place", "place", "place", "copy", "place"], stdout + stderr
