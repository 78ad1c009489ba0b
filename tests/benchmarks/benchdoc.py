# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/benchmarks.md sections, shared by the benchmarks that own a `## ` section of it."""

from __future__ import annotations

from pathlib import Path


def replace_section(doc: Path, section: str, block: str) -> None:
    """Replace `section` (its heading up to the next `## ` heading) with `block`, or append it; nothing else changes."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    start = text.find("\n" + section + "\n")
    if start >= 0:
        start += 1
        nxt = text.find("\n## ", start + len(section))
        tail = text[nxt + 1:] if nxt >= 0 else ""
        text = text[:start] + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.write_text(text)
