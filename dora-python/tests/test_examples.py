"""The Python examples, Python nodes and operators beside Rust nodes,
run with the package's ``dora`` command."""

import subprocess

from conftest import DORA, ROOT, node_lines


def run_example(name: str) -> str:
    result = subprocess.run(
        [str(DORA), "run", str(ROOT / "examples" / name / "dataflow.yml"), "--stop-after", "2s"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_python_node_between_rust_nodes():
    stdout = run_example("python-dataflow")
    assert "reversed message 1" in node_lines(stdout, "reverse"), stdout
    assert any(l.startswith("1# olleh (") for l in node_lines(stdout, "receiver")), stdout


def test_python_operators_in_one_runtime_fed_by_a_rust_node():
    stdout = run_example("python-operator")
    lines = node_lines(stdout, "runtime")
    assert "10 words so far; the last: #5" in lines, stdout
    assert "2 operators handled" in lines[-1], stdout


def test_printed_lines_and_warnings_reach_another_node_as_messages():
    stdout = run_example("python-logs")
    lines = node_lines(stdout, "monitor")
    assert "reading 1: temperature 21" in lines, stdout
    assert "warning 1 from sensor: hot: 28 C {'celsius': 28}" in lines, stdout
