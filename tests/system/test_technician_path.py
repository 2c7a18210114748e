"""The technician's path of tools/README.md, run exactly as written: from an empty folder to an
acknowledged test alarm, as the hub's own non-root user, on simulated boards, a real mosquitto,
the real hub and an independent SIA DC-09 receiver as the alarm centre.

The test takes the shell block marked ``technician-path`` out of the README and runs it with
bash (``-e``: the first failing step fails the test) in an empty folder. As root (CI), it runs
as ``nobody`` through setpriv, in a folder that user owns. One capability is kept,
CAP_DAC_READ_SEARCH, only because this machine's virtualenv interpreter lives under root's
home (pyenv), which an unprivileged user cannot reach; on a Raspberry Pi the virtualenv is in
/opt/trygg. Writing stays the unprivileged user's: every file the path creates must be its own.
The ports are free ones given through the block's MQTT_PORT and ARC_PORT. The run's duration
is printed (``-s`` shows it) as one JSON line.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from support import mpy
from trygg.tools.sim.mosquitto import free_port

README = mpy.REPO_ROOT / "tools" / "README.md"
MARKER = "<!-- technician-path:"
RUN_TIMEOUT_S = 600.0
pytestmark = pytest.mark.usefixtures("micropython_bin")


def technician_path() -> str:
    text = README.read_text(encoding="utf-8")
    after = text[text.index(MARKER):]
    match = re.search(r"```sh\n(.*?)```", after, re.S)
    assert match is not None, "tools/README.md: no ```sh block after the technician-path marker"
    return match.group(1)


def as_hub_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to run the path as an unprivileged user")
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"]


def test_the_readme_technician_path_ends_in_an_acknowledged_test_alarm() -> None:
    for tool in ("mosquitto", "socat"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is missing (Debian package {tool}; tools/dev installs it)")
    base = Path(tempfile.mkdtemp(prefix="trygg-technician-"))
    base.chmod(0o755)
    folder = base / "home"
    folder.mkdir()  # empty: everything in it comes from the README's steps
    if os.geteuid() == 0:
        os.chown(folder, pwd.getpwnam("nobody").pw_uid, -1)
    script = base / "technician-path.sh"
    script.write_text(technician_path())
    script.chmod(0o644)
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                    "/usr/bin", "/bin", "/usr/sbin", "/sbin"]),
           "HOME": str(folder), "LANG": "C.UTF-8",
           "MQTT_PORT": str(free_port()), "ARC_PORT": str(free_port())}
    started = time.monotonic()
    run = subprocess.Popen([*as_hub_user(), "bash", "-e", "-x", str(script)], cwd=folder,
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = run.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        output, _ = run.communicate()
    finally:
        seconds = time.monotonic() - started
        # Whatever the path left running (it ends its own jobs when it succeeds).
        with_pids = [p for p in (_group_members(run.pid)) if p != os.getpid()]
        for pid in with_pids:
            os.kill(pid, signal.SIGKILL)
    logs = {name: (folder / name).read_text(errors="replace") if (folder / name).exists()
            else "(none)" for name in ("hub.log", "centre.log", "walktest.txt")}
    shutil.rmtree(base, ignore_errors=True)
    print(json.dumps({"technician_path_s": round(seconds, 1)}))
    detail = output + "".join(f"\n--- {n}:\n{t}" for n, t in logs.items())
    assert run.returncode == 0, detail
    walk = logs["walktest.txt"]
    assert walk.count("PASSED:") == 2, detail
    assert "walk test PASSED" in walk, detail
    assert "FAILED" not in walk, detail
    assert re.search(r"practice-centre .* OK +ACK", output), detail
    # The hub's log tells the story a technician looks for.
    assert re.search(r"paired [0-9a-f]{12}: bed in bedroom, zone 2", logs["hub.log"]), detail
    assert logs["hub.log"].count("mains-powered") == 2, detail


def _group_members(pgid: int) -> list[int]:
    """Processes still in the run's session (its process group), by id."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == pgid:  # pgrp: the fifth field, the fourth after the name
                found.append(int(entry))
    return found
