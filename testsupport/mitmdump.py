"""Start real ``mitmdump`` (or ``mitmweb``) processes running the addon, for end-to-end tests
and benchmarks."""

from __future__ import annotations

import os
import secrets
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


def command(program: Path, workdir: Path, port: int, options: Sequence[str],
            scripts: Sequence[Path]) -> list[str]:
    """``program`` on 127.0.0.1:``port`` with a confdir of its own under ``workdir``."""
    confdir = workdir / "confdir"
    confdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(program), "--listen-host", "127.0.0.1", "--listen-port", str(port),
           "--set", f"confdir={confdir}"]
    for script in scripts:
        cmd += ["-s", str(script)]
    for opt in options:
        cmd += ["--set", opt]
    return cmd


class Mitmdump:
    """One mitmdump process; ``with_addon=False`` gives plain mitmdump for comparisons."""

    program = MITMDUMP
    #: what the log says once the proxy (and, with the addon, the addon) is up
    ready = ("listening at",)

    def __init__(self, workdir: Path, *, options: Sequence[str] = (), with_addon: bool = True,
                 env: dict[str, str] | None = None, launcher: Sequence[str] = (),
                 ready_timeout: float = 30, script: Path = ENTRY,
                 extra_scripts: Sequence[Path] = (), args: Sequence[str] = ()) -> None:
        """``launcher``: a command that runs the program under it (a profiler: it gets the
        Python interpreter and the program as its arguments). ``script``: what ``-s`` loads
        with ``with_addon`` (another script must log "aws-masker ready" too); ``extra_scripts``
        are loaded after it; ``args`` go to the program as they are."""
        self.port = free_port()
        self.workdir = workdir
        self.lines: list[str] = []
        self._lock = threading.Lock()
        if self.program == MITMDUMP and not any(o.startswith("flow_detail=") for o in options):
            options = ["flow_detail=0", *options]
        scripts = [*([script] if with_addon else []), *extra_scripts]
        cmd = command(self.program, workdir, self.port, options, scripts) + list(args)
        if launcher:
            cmd = [*launcher, sys.executable, *cmd]
        self.cmd = cmd
        full_env = {**os.environ, **(env or {})}
        full_env.pop("HTTP_PROXY", None)
        full_env.pop("HTTPS_PROXY", None)
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        ready = [*self.ready, *(["aws-masker ready"] if with_addon else [])]
        if not self.wait_for(ready, ready_timeout):
            code = self.stop()
            raise RuntimeError(f"{self.program.name} did not become ready (exit status {code}):"
                               f"\n{self.output()}")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, text: str | Sequence[str], timeout: float = 10) -> bool:
        """True once the log holds ``text`` (every one of several); False after ``timeout``,
        or as soon as the process has exited without it."""
        wanted = [text] if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            if all(w in self.output() for w in wanted):
                return True
            if exited:
                return False
            time.sleep(0.05)
        return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.workdir / "confdir" / "mitmproxy-ca-cert.pem"

    def stop(self) -> int:
        return stop_process(self.proc)

    def __enter__(self) -> Mitmdump:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Mitmweb(Mitmdump):
    """One mitmweb process: the proxy on ``port``, the web UI on ``web_port`` (loopback, a
    random password), read through :meth:`api`."""

    program = MITMDUMP.with_name("mitmweb")
    ready = ("listening at", "Web server listening")

    def __init__(self, workdir: Path, *, options: Sequence[str] = (), **kw) -> None:
        self.web_port = free_port()
        self.password = secrets.token_hex(8)
        web = [f"web_port={self.web_port}", "web_host=127.0.0.1",
               f"web_password={self.password}"]
        super().__init__(workdir, options=[*web, *options],
                         args=["--no-web-open-browser", *kw.pop("args", ())], **kw)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def api(self):
        """A client of mitmweb's HTTP API (the password as a bearer token)."""
        import httpx

        return httpx.Client(base_url=self.web_url, timeout=30, trust_env=False,
                            headers={"Authorization": f"Bearer {self.password}"})


def run_mitmdump_expecting_exit(workdir: Path, options: Sequence[str], timeout: float = 30,
                                env: dict[str, str] | None = None) -> tuple[int, str]:
    """Start mitmdump with the addon and options that should make it refuse to start."""
    cmd = command(MITMDUMP, workdir, free_port(), options, [ENTRY])
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    return p.returncode, p.stdout + p.stderr
