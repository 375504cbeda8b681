"""Start real ``mitmdump`` processes running the addon, for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from testsupport.procs import stop_process

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "addon" / "aws_masker.py"
MITMDUMP = Path(sys.executable).with_name("mitmdump")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mitmdump:
    """One mitmdump process; ``with_addon=False`` gives plain mitmdump for comparisons."""

    def __init__(self, workdir: Path, *, options: Sequence[str] = (), with_addon: bool = True,
                 env: dict[str, str] | None = None, launcher: Sequence[str] = (),
                 ready_timeout: float = 30, script: Path = ENTRY,
                 extra_scripts: Sequence[Path] = (), args: Sequence[str] = ()) -> None:
        """``launcher``: a command that runs the mitmdump script under it (a profiler: it gets
        the Python interpreter and the script as its arguments). ``script``: what ``-s`` loads
        with ``with_addon`` (another script must log "aws-masker ready" too); ``extra_scripts``
        are loaded after it; ``args`` go to mitmdump as they are."""
        self.port = free_port()
        self.workdir = workdir
        self.lines: list[str] = []
        self._lock = threading.Lock()
        confdir = workdir / "confdir"
        confdir.mkdir(parents=True, exist_ok=True)
        head = [*launcher, sys.executable, str(MITMDUMP)] if launcher else [str(MITMDUMP)]
        cmd = [*head, "--listen-host", "127.0.0.1", "--listen-port", str(self.port),
               "--set", f"confdir={confdir}"]
        if not any(o.startswith("flow_detail=") for o in options):
            cmd += ["--set", "flow_detail=0"]
        if with_addon:
            cmd += ["-s", str(script)]
        for extra in extra_scripts:
            cmd += ["-s", str(extra)]
        for opt in options:
            cmd += ["--set", opt]
        cmd += list(args)
        self.cmd = cmd
        full_env = {**os.environ, **(env or {})}
        full_env.pop("HTTP_PROXY", None)
        full_env.pop("HTTPS_PROXY", None)
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        self._wait_ready(with_addon, ready_timeout)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def _wait_ready(self, with_addon: bool, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if self.proc.poll() is not None:
                raise RuntimeError(f"mitmdump exited with {self.proc.returncode}:\n{out}")
            listening = "listening at" in out
            if listening and (not with_addon or "aws-masker ready" in out):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mitmdump did not become ready:\n{self.output()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.workdir / "confdir" / "mitmproxy-ca-cert.pem"

    def wait_for(self, text: str, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> int:
        return stop_process(self.proc)

    def __enter__(self) -> Mitmdump:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_mitmdump_expecting_exit(workdir: Path, options: Sequence[str], timeout: float = 30,
                                env: dict[str, str] | None = None) -> tuple[int, str]:
    """Start mitmdump with the addon and options that should make it refuse to start."""
    confdir = workdir / "confdir"
    confdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(MITMDUMP), "--listen-host", "127.0.0.1", "--listen-port", str(free_port()),
           "--set", f"confdir={confdir}", "-s", str(ENTRY)]
    for opt in options:
        cmd += ["--set", opt]
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    return p.returncode, p.stdout + p.stderr
