"""The child processes that tests and benchmarks start: stopping them, their CPU time."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def cpu_ns(pid: int) -> int:
    """CPU time a process has used so far, all its threads, in nanoseconds: from
    ``/proc/<pid>/task/*/schedstat``, or utime+stime (clock ticks, 10 ms here) without it."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tasks = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return ticks_ns(pid)  # no schedstat here (or a thread just ended): whole process
    return total or ticks_ns(pid)


def ticks_ns(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def wait_until(check: Callable[[], object], timeout: float = 15) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
