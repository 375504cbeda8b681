"""A private redis-server for tests and benchmarks: a free loopback port (never 6379),
killed and started again on the same port when a test needs that."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import port_for
import redis

from testsupport.procs import stop_process

REDIS_SERVER = shutil.which("redis-server") or "redis-server"


class RedisServer:
    """A redis-server on a free loopback port that a test may kill and restart on the same port.

    ``durable``: append-only file with fsync on every write, so data acknowledged before a kill
    survives it; otherwise nothing is persisted (like a cache deployment, for benchmarks).
    """

    def __init__(self, datadir: Path, *, durable: bool = True) -> None:
        self.datadir = datadir
        self.durable = durable
        self.port = port_for.select_random()
        while self.port == 6379:  # never the shared server's port
            self.port = port_for.select_random()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.durable
                       else ["--appendonly", "no"])
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.datadir), "--save", "", *persistence,
                "--daemonize", "no", "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            except (OSError, redis.RedisError):
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, sockets reset."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (clients see the connection close)."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)
