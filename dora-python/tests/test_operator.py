"""Python operators, many in one runtime process."""

import textwrap

from conftest import node_lines


def test_twenty_python_operators_share_one_runtime_and_a_failing_one_restarts(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        for n in range(5):
            node.send_output("out", n.to_bytes(8, "little"))
        """,
    )
    run.write(
        "add.py",
        """
        import os

        class Operator:
            def on_event(self, event, send_output):
                if event.type == "INPUT":
                    n = int.from_bytes(event.data, "little")
                    send_output("out", (n + 1).to_bytes(8, "little"))
        """,
    )
    run.write(
        "last.py",
        """
        import os

        class Operator:
            def __init__(self):
                print(f"last starts in process {os.getpid()}")
                self.seen = 0

            def on_event(self, event, send_output):
                if event.type != "INPUT":
                    return None
                self.seen += 1
                if self.seen == 2:
                    raise ValueError("failing on purpose")
                print(f"got {int.from_bytes(event.data, 'little')} in process {os.getpid()}")
        """,
    )
    operators = ["      - id: add0\n        python: add.py\n        inputs: { in: { source: sender/out, queue_policy: backpressure } }\n        outputs: [out]\n"]
    for i in range(1, 19):
        operators.append(
            f"      - id: add{i}\n        python: add.py\n        inputs: {{ in: runtime/add{i - 1}/out }}\n        outputs: [out]\n"
        )
    operators.append("      - id: last\n        python: last.py\n        inputs: { in: runtime/add18/out }\n")
    header = textwrap.dedent(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: runtime
            restart_policy: on-failure
            operators:
        """
    )
    code, stdout, stderr, _ = run(header + "".join(operators))
    # The two messages the failures ate are lost, and that fails the run.
    assert code == 1, stdout + stderr
    assert "operator input `last/in` lost 2 messages to panics" in stderr, stderr
    lines = node_lines(stdout, "runtime")
    got = [l.split(" in process ")[0] for l in lines if l.startswith("got")]
    # 19 operators added one each. `last` fails on the second message each
    # instance gets (a restart starts a fresh instance): 20 and 22.
    assert got == ["got 19", "got 21", "got 23"], stdout + stderr
    processes = {l.split(" in process ")[1] for l in lines if " in process " in l}
    assert len(processes) == 1, lines
    assert "ValueError: failing on purpose" in stdout + stderr
    assert (
        "operator `last` panicked: ValueError: failing on purpose; the message it was handling on `in` is lost; restarting it with its state (restart 2 of 5)"
        in stdout + stderr
    )
    assert "20 operators handled" in lines[-1], lines


def test_an_operator_sees_the_metadata_of_its_input_and_sends_its_own(run):
    metadata = {"s": "héllo", "i": -3, "f": 1.5, "t": True, "b": b"\x00\xff"}
    run.write(
        "sender.py",
        f"""
        from dora import Node

        node = Node()
        node.send_output("out", b"x", {metadata!r})
        """,
    )
    run.write(
        "forward.py",
        """
        class Operator:
            def on_event(self, event, send_output):
                if event.type == "INPUT":
                    print(repr(sorted(event.metadata.items())), flush=True)
                    send_output("out", event.data, {**event.metadata, "by": "forward"})
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
          - id: runtime
            operators:
              - id: forward
                python: forward.py
                inputs: { in: sender/out }
                outputs: [out]
          - id: receiver
            path: receiver.py
            inputs: { in: runtime/forward/out }
        """
    )
    assert code == 0, stdout + stderr
    assert node_lines(stdout, "runtime")[0] == repr(sorted(metadata.items())), stdout + stderr
    forwarded = sorted({**metadata, "by": "forward"}.items())
    assert node_lines(stdout, "receiver") == [repr(forwarded)], stdout + stderr



def test_an_operator_reads_its_input_in_place_and_may_keep_it_past_the_call(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        for n in range(5):
            node.send_output("out", bytes([n]) * 1000)
        """,
    )
    # `double` sends each message on to two operators of the same runtime:
    # both get the very bytes it sent, so both views start at one address.
    run.write(
        "double.py",
        """
        from dora import Status

        class Operator:
            def on_event(self, event, send_output):
                if event.type == "INPUT":
                    send_output("out", bytes(2 * b for b in event.data))
                elif event.type == "INPUT_CLOSED":
                    # Closes the inputs of a and b.
                    return Status.STOP
        """,
    )
    run.write(
        "keep.py",
        """
        import threading

        import numpy as np

        def address(view):
            return np.frombuffer(view, np.uint8).__array_interface__["data"][0]

        class Operator:
            def __init__(self):
                self.kept = []
                self.addresses = []

            def on_event(self, event, send_output):
                if event.type == "INPUT":
                    view = event.data
                    print(f"{type(view).__name__} readonly={view.readonly} at {address(view)}", flush=True)
                    self.kept.append(view)
                    self.addresses.append(address(view))
                elif event.type == "INPUT_CLOSED":
                    # Read after the calls that received them returned, on
                    # another thread.
                    results = []
                    reader = threading.Thread(
                        target=lambda: results.extend(
                            view == bytes([2 * n]) * 1000 for n, view in enumerate(self.kept)
                        )
                    )
                    reader.start()
                    reader.join()
                    same = [address(v) for v in self.kept] == self.addresses
                    print(f"kept {len(self.kept)} intact {sum(results)} same addresses {same}", flush=True)
                    self.kept.clear()
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: runtime
            operators:
              - id: double
                python: double.py
                inputs: { in: { source: sender/out, queue_policy: backpressure } }
                outputs: [out]
              - id: a
                python: keep.py
                inputs: { in: { source: runtime/double/out, queue_policy: backpressure } }
              - id: b
                python: keep.py
                inputs: { in: { source: runtime/double/out, queue_policy: backpressure } }
        """
    )
    assert code == 0, stdout + stderr
    lines = node_lines(stdout, "runtime")
    views = [l for l in lines if l.startswith("memoryview")]
    assert len(views) == 10, stdout + stderr
    assert all("readonly=True" in l for l in views), views
    # a and b saw each message at one address: neither got a copy.
    addresses = [l.split(" at ")[1] for l in views]
    assert len(set(addresses)) == 5, views
    assert all(addresses.count(a) == 2 for a in addresses), views
    kept = [l for l in lines if l.startswith("kept")]
    assert kept == ["kept 5 intact 5 same addresses True"] * 2, stdout + stderr


def test_an_operator_that_holds_many_messages_of_a_node_gets_them_all_intact(run):
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
        "hold.py",
        """
        class Operator:
            def __init__(self):
                self.held = []

            def on_event(self, event, send_output):
                if event.type == "INPUT":
                    self.held.append(event.data)
                elif event.type == "INPUT_CLOSED":
                    intact = sum(v == bytes([n]) * 1000 for n, v in enumerate(self.held))
                    print(f"held {len(self.held)} intact {intact}", flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: runtime
            operators:
              - id: hold
                python: hold.py
                inputs: { in: { source: sender/out, queue_policy: backpressure, queue_size: 20 } }
        """
    )
    # Beyond the few messages held in shared memory, the rest arrive as
    # copies: nothing blocks, fails or is lost.
    assert code == 0, stdout + stderr
    assert node_lines(stdout, "runtime")[0] == "held 20 intact 20", stdout + stderr


def test_state_survives_a_restart_and_shared_state_reaches_another_operator(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        for n in range(5):
            node.send_output("out", n.to_bytes(8, "little"))
        """,
    )
    run.write(
        "count.py",
        """
        class Operator:
            def __init__(self):
                print("count starts", flush=True)

            def on_event(self, event, send_output, context):
                if event.type != "INPUT":
                    return None
                seen = int.from_bytes(context.state.get("seen", b""), "little") + 1
                context.state["seen"] = seen.to_bytes(8, "little")
                context.shared[f"from {seen}"] = event.data
                if seen == 2:
                    raise ValueError("failing on purpose")
                print(f"seen {seen} (state {context.state['seen']!r})", flush=True)
                send_output("out", seen.to_bytes(8, "little"))
        """,
    )
    run.write(
        "read.py",
        """
        class Operator:
            def on_event(self, event, send_output, context):
                if event.type == "INPUT":
                    seen = int.from_bytes(event.data, "little")
                    value = context.shared[f"from {seen}"]
                    print(f"{context.operator_id} read {int.from_bytes(value, 'little')} {type(value).__name__} {'nothing' in context.shared}", flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: runtime
            restart_policy: on-failure
            operators:
              - id: count
                python: count.py
                inputs: { in: { source: sender/out, queue_policy: backpressure } }
                outputs: [out]
              - id: reader
                python: read.py
                inputs: { in: runtime/count/out }
        """
    )
    # The message the exception ate is lost, and that fails the run.
    assert code == 1, stdout + stderr
    lines = node_lines(stdout, "runtime")
    # A fresh instance after the exception, which counts on from the state.
    assert [l for l in lines if l == "count starts"] == ["count starts"] * 2, lines
    seen = [l for l in lines if l.startswith("seen")]
    assert seen == [
        f"seen {n} (state {n.to_bytes(8, 'little')!r})" for n in (1, 3, 4, 5)
    ], stdout + stderr
    read = [l for l in lines if l.startswith("reader")]
    assert read == [f"reader read {n} bytes False" for n in (0, 2, 3, 4)], stdout + stderr


def test_the_stores_say_what_they_take_and_work_only_during_the_call(run):
    run.write(
        "sender.py",
        """
        from dora import Node

        node = Node()
        for n in range(2):
            node.send_output("out", b"x")
        """,
    )
    run.write(
        "misuse.py",
        """
        class Operator:
            kept = None

            def on_event(self, event, send_output, context):
                if event.type != "INPUT":
                    return None
                if self.kept is None:
                    self.kept = context
                    try:
                        context.state["n"] = 3
                    except TypeError as error:
                        print(f"TypeError: {error}", flush=True)
                    try:
                        context.state["never set"]
                    except KeyError as error:
                        print(f"KeyError: {error}", flush=True)
                    context.state["n"] = bytearray(b"ab")
                    print(f"get {context.state.get('n')!r} {context.state.get('m', 7)!r}", flush=True)
                else:
                    try:
                        self.kept.state.get("n")
                    except RuntimeError as error:
                        print(f"RuntimeError: {error}", flush=True)
                    print(f"now {context.state['n']!r}", flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: sender
            path: sender.py
            outputs: [out]
          - id: runtime
            operators:
              - id: misuse
                python: misuse.py
                inputs: { in: { source: sender/out, queue_policy: backpressure } }
        """
    )
    assert code == 0, stdout + stderr
    lines = node_lines(stdout, "runtime")[:5]
    assert lines[0].startswith("TypeError: data must be bytes, bytearray, memoryview"), lines
    assert lines[1:3] == ["KeyError: 'never set'", "get b'ab' 7"], lines
    assert lines[3].startswith("RuntimeError: the context works only during the on_event call"), lines
    assert lines[4] == "now b'ab'", lines
