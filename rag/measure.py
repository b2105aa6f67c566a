"""Measuring helpers for `rag bench`, benchmarks and tests: time, peak memory, percentiles, a server coming up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Linux starts a child's peak-memory count (ru_maxrss) at its parent's size at fork time,
# so a command forked from the bench (a big process) would inherit the bench's peak. This
# launcher, a bare interpreter of ~10 MiB, starts the command instead and reports its
# wall time and peak. It ignores SIGTERM/SIGINT itself (the command gets them) so that
# stopping the process group still lets it report.
LAUNCHER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
started = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ, setsigdef=(signal.SIGTERM, signal.SIGINT))
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.perf_counter() - started} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Child:
    """How a finished command went."""

    wall_s: float | None
    peak_mb: float | None  # its peak resident memory, with the children it waited for
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def failure(self) -> str | None:
        """None when it succeeded; else its exit code and last line of stderr."""
        if self.returncode == 0 and self.wall_s is not None:
            return None
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return f"exit {self.returncode}: {lines[-1] if lines else 'no message'}"


class Launched:
    """A command running under the launcher, in its own process group."""

    def __init__(self, command: Sequence[str], env: dict | None = None, stdout=None, stderr=None):
        handle, self.report = tempfile.mkstemp(prefix="rag-bench-", suffix=".txt")
        os.close(handle)
        self.process = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER, self.report, *command],  # noqa: S603 - argv list, no shell; the bench's own commands
                                        env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                        start_new_session=True)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Ask the command to exit (SIGTERM to its process group)."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> Child:
        """Wait for the end (killing the group after `timeout` seconds); its figures."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        report = Path(self.report)
        fields = report.read_text().split() if report.exists() else []
        report.unlink(missing_ok=True)
        if len(fields) != 2:
            return Child(None, None, self.process.returncode)
        return Child(float(fields[0]), int(fields[1]) / 1024, self.process.returncode)


def run_child(command: Sequence[str], env: dict | None = None, timeout: float = 600) -> Child:
    """Run `command` to completion; its wall time, peak memory and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = Launched(command, env=env, stdout=out, stderr=err).wait(timeout)
        out.seek(0)
        err.seek(0)
        child.stdout, child.stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        return child


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of durations given in seconds, in milliseconds."""
    p50, p95 = np.percentile(np.asarray(seconds) * 1000, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now, for a server started next."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float, poll: float = 0.2) -> None:
    """Return once the Gradio server at `url` answers HTTP; RuntimeError if `process` exits or `timeout` passes."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"rag serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"rag serve not ready after {timeout:g}s") from None
            time.sleep(poll)


class ServeFailed(RuntimeError):
    """`rag serve` exited, or did not answer in time."""


@contextmanager
def rag_serving(port: int, env: dict, output, timeout: float, poll: float = 0.2,
                cwd: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`rag serve` on loopback `port`, once it answers HTTP: its URL and process; stopped on exit.

    Its output goes to `output` (a file or subprocess.DEVNULL); ServeFailed if it does not come up.
    """
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=cwd,  # noqa: S603 - argv list, no shell
                               env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_for_server(url, process, timeout, poll)
        except RuntimeError as error:
            raise ServeFailed(str(error)) from None
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
