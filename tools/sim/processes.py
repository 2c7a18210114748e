"""Child processes the tools and tests start (brokers, simulated boards, a hub)."""

import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any, Self


def end_process(proc: "subprocess.Popen[bytes]", grace_s: float = 5.0) -> None:
    """SIGTERM, and SIGKILL if ``proc`` has not exited within ``grace_s``; then reap it.
    A process that has exited already is only reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace_s)


class LocalServer:
    """The life cycle the tests' own loopback servers share (mosquitto, kamailio): a subclass
    sets ``workdir``, ``log_path``, ``_own_workdir`` and ``_proc`` and gives ``start``/``stop``."""

    workdir: Path
    log_path: Path
    _own_workdir: bool
    _proc: "subprocess.Popen[bytes] | None"

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
