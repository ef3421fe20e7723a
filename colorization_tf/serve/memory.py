"""How much memory this machine (or its container) has, and the pixel budget sized from it.

The service's default budget of pixels in flight (`budget.PixelBudget`) is `DEFAULT_MEMORY_FRACTION`
of the memory divided by `BYTES_PER_PIXEL_IN_FLIGHT`. The settings (`config.ServeConfig`) and the
budget both read it from here; it imports nothing of the package.

Reference:
    Linux cgroup v2 `memory.max` and v1 `memory.limit_in_bytes`:
    https://docs.kernel.org/admin-guide/cgroup-v2.html#memory-interface-files
"""

from __future__ import annotations

import os

BYTES_PER_PIXEL_IN_FLIGHT = 64
"""What one image pixel costs the server at its peak: the serving signature's float32 tensors at
full resolution (RGB, Lab, upsampled ab: ~60 bytes for a 25-megapixel photo's ~1.5 GB) plus its
uint8 copies (decoded, batched, result)."""
DEFAULT_MEMORY_FRACTION = 0.5
"""Share of the machine's memory the pixels in flight may take when `max_pixels_in_flight` is 0."""
CGROUP_MEMORY_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
"""cgroup v2 and v1 memory limits: a container's memory is what it may use, not what the host has."""


def machine_memory_bytes() -> int:
    """Physical memory of this machine, or the container's cgroup limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in CGROUP_MEMORY_LIMITS:
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_pixel_budget(memory_fraction: float = DEFAULT_MEMORY_FRACTION, memory_bytes: int | None = None) -> int:
    """Pixels in flight for `memory_fraction` of `memory_bytes` (default: this machine's memory).

    Args:
        memory_fraction: share of the memory, in (0, 1].
        memory_bytes: the memory to size from (default `machine_memory_bytes()`).

    Returns:
        `memory_fraction * memory_bytes / BYTES_PER_PIXEL_IN_FLIGHT`, at least 1.
    """
    if not 0 < memory_fraction <= 1:
        raise ValueError(f"memory_fraction must be in (0, 1], not {memory_fraction}")
    memory = machine_memory_bytes() if memory_bytes is None else memory_bytes
    return max(1, int(memory * memory_fraction / BYTES_PER_PIXEL_IN_FLIGHT))
