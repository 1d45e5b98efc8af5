"""Python's ``logging`` under ``dora run``: records with levels, filtered by
``min_log_level``, and an operator's printed lines sent as messages."""

import json

from conftest import node_lines


def test_logging_reaches_dora_run_with_levels_and_min_log_level_filters_it(run):
    run.write(
        "talker.py",
        """
        import logging
        import dora
        from dora import Node

        node = Node()
        log = logging.getLogger("talker.sensor")
        log.info("temperature %d", 21, extra={"fields": {"unit": "C"}})
        log.warning("hot")
        log.debug("hidden detail")
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("division failed")
        dora.log("error", "direct")
        print("printed", flush=True)
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: talker
            path: talker.py
            min_log_level: info
        """
    )
    assert code == 0, stderr
    shown = node_lines(stderr, "talker")
    assert "INFO  talker.sensor: temperature 21 unit=\"C\"" in shown, stderr
    assert "WARN  talker.sensor: hot" in shown, stderr
    assert "ERROR direct" in shown, stderr
    # The traceback goes with the record, in the same line's message.
    assert any(l.startswith("ERROR talker.sensor: division failed") for l in shown), stderr
    assert "ZeroDivisionError" in stderr
    assert "hidden detail" not in stderr
    # Printed stdout is below `info`.
    assert node_lines(stdout, "talker") == [], stdout


def test_an_operator_s_printed_lines_and_logs_go_to_other_nodes_as_messages(run):
    run.write(
        "speaker.py",
        """
        import logging

        class Operator:
            def __init__(self):
                self.count = 0

            def on_event(self, event, send_output):
                if event.type == "INPUT" and self.count < 3:
                    self.count += 1
                    print(f"said {self.count}", flush=True)
                    logging.warning("warned %d", self.count)
        """,
    )
    run.write(
        "listener.py",
        """
        import json
        from dora import Node

        node = Node()
        said, warned = 0, 0
        for event in node:
            if event.type != "INPUT":
                continue
            text = bytes(event.data).decode()
            if event.id == "said":
                said += 1
                print(f"said: {text}", flush=True)
            else:
                message = json.loads(text)
                warned += 1
                print(f"warned: {message['node']} {message['level']} {message['message']}", flush=True)
            if said == 3 and warned == 3:
                break
        """,
    )
    code, stdout, stderr, _ = run(
        """
        nodes:
          - id: speaker
            operator:
              python: speaker.py
              send_stdout_as: said
              inputs:
                tick: dora/timer/millis/20
              outputs: [said]
          - id: listener
            path: listener.py
            inputs:
              said: { source: speaker/said, queue_size: 10 }
              warnings: { source: dora/logs/warn, queue_size: 10 }
        """,
        "--stop-after",
        "30s",
    )
    lines = node_lines(stdout, "listener")
    assert [l for l in lines if l.startswith("said: ")] == [f"said: said {n}" for n in (1, 2, 3)], stdout
    assert [l for l in lines if l.startswith("warned: ")] == [
        f"warned: speaker warn warned {n}" for n in (1, 2, 3)
    ], stdout
