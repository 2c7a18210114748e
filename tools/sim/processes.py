"""Child processes the tools and tests start (brokers, simulated boards, a hub)."""

import subprocess


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
