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

