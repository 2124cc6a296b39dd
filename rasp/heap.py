"""Keep freed memory in the process for the interpreter's large short-lived arrays.

Evaluating one node on a batch makes arrays of B x N x N cells, for example a selector and the
float32 copy that `selector_width` counts with, and frees them a moment later. Under glibc,
malloc returns the free top of its heap to the operating system. The next array then maps the
same memory again, one page fault per 4 KiB.

For examples/published/majority.rasp that is about 610 faults per pass over 96 inputs of 50
tokens. With `keep_freed_memory`, malloc keeps a pad of freed memory at the top of its heap
(glibc's `M_TOP_PAD`), and the next array reuses those pages without faults. On this project's
2-core virtual machine that pass went from 3.0-3.1 ms to 1.8-2.4 ms (best of 5, two runs).

The setting is process-wide. The processes that label training batches turn it on
(`generalization.training.prefetch`). It costs at most the pad in memory that stays mapped.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's mallopt parameter for the free memory kept at the heap's top (malloc.h).
_M_TOP_PAD = -2
# A chunk at the published presets' training lengths (B x N x N = 128 x 50 x 50 cells) makes
# 0.3 MB selectors and 1.3 MB float32 copies, a few alive at once: 64 MiB holds them many
# times over, and is little beside the memory of a process that imports JAX.
DEFAULT_PAD = 64 << 20


def keep_freed_memory(pad: int = DEFAULT_PAD) -> bool:
    """Keep `pad` bytes of freed memory mapped at the top of malloc's heap, process-wide.

    Returns whether it took effect; False where the C library has no glibc `mallopt`
    (macOS, Windows), where the allocator's default stays.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    return bool(mallopt and mallopt(_M_TOP_PAD, ctypes.c_int(pad)) == 1)
