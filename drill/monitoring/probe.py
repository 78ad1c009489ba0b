# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP checks for drill/monitoring.sh (standard library only, no curl needed).

  probe.py get URL                 exit 0 when URL answers 2xx
  probe.py post URL                POST with an empty body (Prometheus' and Alertmanager's
                                   /-/reload); exit 0 on 2xx, else the reason on stderr
  probe.py targets URL N SECONDS   wait until Prometheus at URL has N active targets, all up;
                                   on timeout name each target that is not up and why
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request


def request(url: str, method: str = "GET", timeout: float = 5) -> bytes:
    data = b"" if method == "POST" else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=timeout) as resp:
        return resp.read()


def reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}: {exc.read().decode(errors='replace').strip()}"
    return str(getattr(exc, "reason", exc))


def describe(target: dict) -> str:
    labels = target.get("labels", {})
    name = " ".join(f"{k}={labels[k]}" for k in ("job", "service", "instance") if k in labels)
    return f"{name}: {target.get('health')} ({target.get('lastError') or 'not scraped yet'})"


def not_up(base: str, expected: int) -> list[str]:
    """What keeps the targets from being complete and up (empty when they are)."""
    body = json.loads(request(f"{base}/api/v1/targets?state=active"))
    targets = body["data"]["activeTargets"]
    problems = [describe(t) for t in targets if t.get("health") != "up"]
    if len(targets) != expected:
        problems.append(f"{len(targets)} active targets, the drill's configuration has {expected}")
    return problems


def wait_targets(base: str, expected: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        try:
            problems = not_up(base, expected)
        except (OSError, ValueError, KeyError) as exc:
            problems = [f"Prometheus at {base} does not answer: {reason(exc)}"]
        if not problems:
            return 0
        if time.monotonic() >= deadline:
            sys.stderr.write(f"Prometheus targets not up after {seconds:g}s:\n"
                             + "".join(f"  {p}\n" for p in problems))
            return 1
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] in ("get", "post"):
        try:
            request(argv[1], method=argv[0].upper())
        except (OSError, urllib.error.URLError) as exc:
            if argv[0] == "post":
                sys.stderr.write(f"POST {argv[1]}: {reason(exc)}\n")
            return 1
        return 0
    if len(argv) == 4 and argv[0] == "targets":
        return wait_targets(argv[1], int(argv[2]), float(argv[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
