# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Free loopback ports for the tests' private servers that never collide with the drill.

The drill's fixed ports (drill/drill.env: 55432, 56379, ...) sit inside Linux's ephemeral
range, so a port the kernel hands out for ``bind(0)`` can be one of them. A private server
started on it while the drill is down makes ``drill/env.sh up`` fail ("Address already in
use"), and the drill taking it first breaks the private server. ``free_port`` never returns a
drill port. Standard library only: tests/unit imports it through tests/integration's path.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

_DRILL_ENV = Path(__file__).resolve().parents[2] / "drill" / "drill.env"
_DEFAULT = re.compile(r"^(DRILL_\w*PORT)=\$\{\1:-(\d+)\}", re.M)


def drill_ports() -> frozenset:
    """Every port drill/drill.env gives a drill server (its defaults and any override set now)."""
    ports = set()
    for name, default in _DEFAULT.findall(_DRILL_ENV.read_text()):
        ports.add(int(default))
        if os.environ.get(name, "").isdigit():
            ports.add(int(os.environ[name]))
    return frozenset(ports)


def free_port(highest: int = 65535) -> int:
    """A loopback TCP port nobody listens on right now, at most `highest`, never a drill port."""
    reserved = drill_ports()
    for _attempt in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port <= highest and port not in reserved:
            return port
    raise RuntimeError("no free loopback port at or below %d outside the drill's ports" % highest)
