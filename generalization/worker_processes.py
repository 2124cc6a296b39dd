"""Worker processes that end with the process that started them.

A process pool's workers wait on their task queue, and a parent that is killed (SIGKILL, the
out-of-memory killer, a preempted job) never shuts its pool down: the workers would wait
forever, holding their memory, or go on with the work they had, such as a run writing into a
folder that the next invocation of the same sweep trains in too. Both pools of the harness,
the sweep's runs (`sweep.py`) and training's label workers (`training/prefetch.py`), start
their workers with `exit_with_parent`.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int, every: float = 1.0) -> None:
    """In a worker: exit as soon as the process `parent` (the pid that started it) is gone,
    checked every `every` seconds by a daemon thread."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()
