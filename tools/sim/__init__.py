"""Stand-ins for what is not on this machine: simulated boards (on the MicroPython unix port),
a device on CPython, the alarm-centre consoles, a private mosquitto, and the demo home built
from them. Tests, benchmarks and the demo use these; the hub never imports them."""
