# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the drill's copy of the collection's Prometheus alert rules.

The drill scrapes and evaluates every second, so the production `for:` durations and
rate windows would make a drill wait minutes for an alert. The copy changes only those:

  every `for:` of a rule           -> DRILL_ALERT_FOR   (default 5s)
  every range window in an `expr:` -> DRILL_RATE_WINDOW (default 20s), e.g. [5m] -> [20s],
                                      a subquery's [10m:1m] -> [20s:1m]

Expressions, thresholds, labels and annotations stay as written (annotation text that
says "5 minutes" still says so). The file is edited line by line, so comments and layout
survive and nothing but the standard library is needed.

  render_rules.py [SOURCE] DEST   (SOURCE: alerting/prometheus/ai-orchestrator-alerts.yml)
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPO / "alerting" / "prometheus" / "ai-orchestrator-alerts.yml"
DURATION = re.compile(r"^(?:\d+(?:ms|[smhdwy]))+$")
FOR_KEY = re.compile(r"^(\s*(?:-\s+)?)for:\s*\S+(\s*(?:#.*)?)$")
EXPR_KEY = re.compile(r"^(\s*)(?:-\s+)?expr:")
# A range window: a duration right after "[" and before "]" or a subquery's ":".
WINDOW = re.compile(r"\[(?:\d+(?:ms|[smhdwy]))+(?=[\]:])")


def setting(name: str, default: str) -> str:
    value = os.environ.get(name) or default
    if not DURATION.match(value):
        raise ValueError(f"{name}={value!r} is not a Prometheus duration (e.g. 5s, 1m30s)")
    return value


def indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def render(text: str, alert_for: str, window: str) -> tuple[str, int, int]:
    """The drill copy of `text`, and how many `for:` and windows it changed."""
    out, fors, windows = [], 0, 0
    expr_indent = None  # indentation of the `expr:` key whose value we are in
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        if expr_indent is not None and body.strip() and indent(body) <= expr_indent:
            expr_indent = None  # the next key: the expression has ended
        match = EXPR_KEY.match(body)
        if match:
            expr_indent = len(match.group(1))
        if expr_indent is not None:
            body, n = WINDOW.subn("[" + window, body)
            windows += n
        else:
            match = FOR_KEY.match(body)
            if match:
                body = f"{match.group(1)}for: {alert_for}{match.group(2)}"
                fors += 1
        out.append(body + line[len(line.rstrip("\n")):])
    return "".join(out), fors, windows


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        sys.stderr.write(__doc__)
        return 2
    source = Path(argv[0]) if len(argv) == 2 else DEFAULT_SOURCE
    dest = Path(argv[-1])
    try:
        alert_for = setting("DRILL_ALERT_FOR", "5s")
        window = setting("DRILL_RATE_WINDOW", "20s")
        text = source.read_text()
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"render_rules: {exc}\n")
        return 1
    rendered, fors, windows = render(text, alert_for, window)
    header = (f"# Rendered by drill/monitoring/render_rules.py from {source}: every for: {alert_for},\n"
              f"# every range window [{window}]. Edit the source, not this copy.\n")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(header + rendered)
    tmp.replace(dest)
    sys.stderr.write(f"render_rules: {dest}: {fors} for: set to {alert_for}, {windows} range windows set to [{window}]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
