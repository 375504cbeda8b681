"""Start a real ``mitmweb`` running the addon, and read flows through its HTTP API."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from testsupport.mitmdump import ENTRY, free_port
from testsupport.procs import stop_process

MITMWEB = Path(sys.executable).with_name("mitmweb")


class Mitmweb:
    """One mitmweb process (proxy on ``port``, web UI on ``web_port``, a random password)."""

    def __init__(self, workdir: Path, *, options: Sequence[str] = (),
                 ready_timeout: float = 30) -> None:
        self.port = free_port()
        self.web_port = free_port()
        self.password = secrets.token_hex(8)
        self.workdir = workdir
        self.lines: list[str] = []
        self._lock = threading.Lock()
        confdir = workdir / "confdir"
        confdir.mkdir(parents=True, exist_ok=True)
        cmd = [str(MITMWEB), "--no-web-open-browser",
               "--listen-host", "127.0.0.1", "--listen-port", str(self.port),
               "--set", f"web_port={self.web_port}", "--set", "web_host=127.0.0.1",
               "--set", f"web_password={self.password}",
               "--set", f"confdir={confdir}", "-s", str(ENTRY)]
        for opt in options:
            cmd += ["--set", opt]
        env = {k: v for k, v in os.environ.items() if k not in ("HTTP_PROXY", "HTTPS_PROXY")}
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        self._wait_ready(ready_timeout)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if self.proc.poll() is not None:
                raise RuntimeError(f"mitmweb exited with {self.proc.returncode}:\n{out}")
            if "aws-masker ready" in out and "Web server listening" in out:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mitmweb did not become ready:\n{self.output()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def api(self) -> httpx.Client:
        """A client of mitmweb's HTTP API (the password as a bearer token)."""
        return httpx.Client(base_url=self.web_url, timeout=30, trust_env=False,
                            headers={"Authorization": f"Bearer {self.password}"})

    def stop(self) -> int:
        return stop_process(self.proc)

    def __enter__(self) -> Mitmweb:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
