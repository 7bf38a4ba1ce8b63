"""Peak memory of a ``python -m clue`` command in a child process, measured by the child itself.

``ru_maxrss`` of a child (``os.wait4``, ``RUSAGE_CHILDREN``, even ``RUSAGE_SELF`` after exec) starts
from the parent's resident size when the child was spawned (Linux keeps the high-water mark across
``vfork``/``exec``), so a large parent (a pytest process with torch loaded) inflates it. The child's
own ``VmHWM`` in ``/proc/self/status`` belongs to its new address space: that is what is read here.

Run as a script: ``python peak_memory.py ARGS...`` runs ``clue.__main__.main(ARGS)`` and writes
``clue-peak-rss-kb <N>`` to standard error before exiting with its status.
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

PEAK_SCRIPT = Path(__file__).resolve()
_LINE = re.compile(r"^clue-peak-rss-kb (\d+)$", re.MULTILINE)


def own_peak_kb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # an upper bound without /proc


def read_peak_mb(stderr: str) -> float:
    match = _LINE.search(stderr)
    assert match, f"no peak memory line in: {stderr[-2000:]}"
    return int(match.group(1)) / 1024


if __name__ == "__main__":
    from clue.__main__ import main

    status = main(sys.argv[1:])
    print(f"clue-peak-rss-kb {own_peak_kb()}", file=sys.stderr)
    sys.exit(status)
