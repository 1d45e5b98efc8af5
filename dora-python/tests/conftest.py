"""Runs dataflows of Python nodes with the ``dora`` command of the
installed package, from a scratch folder."""

import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DORA = pathlib.Path(sys.executable).with_name("dora")


class Run:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder

    def write(self, name: str, text: str) -> pathlib.Path:
        path = self.folder / name
        path.write_text(textwrap.dedent(text).replace("ROOT", str(ROOT)))
        return path

    def start(self, yaml: str, *args: str) -> subprocess.Popen:
        dataflow = self.write("dataflow.yml", yaml)
        return subprocess.Popen(
            [str(DORA), "run", str(dataflow), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, yaml: str, *args: str, timeout: float = 120):
        """Runs the dataflow to its end; returns (exit code, stdout,
        stderr, seconds)."""
        start = time.monotonic()
        process = self.start(yaml, *args)
        stdout, stderr = process.communicate(timeout=timeout)
        return process.returncode, stdout, stderr, time.monotonic() - start


@pytest.fixture
def run(tmp_path):
    return Run(tmp_path)


def node_lines(stdout: str, node: str) -> list[str]:
    """What `node` printed, without the id in front."""
    prefix = f"{node} | "
    return [l.strip()[len(prefix):] for l in stdout.splitlines() if l.strip().startswith(prefix)]
