"""Which CUDA release introduced each PTX ISA version: what a driver must be to JIT-compile a PTX.

A driver JIT-compiles PTX only up to the ISA version of the CUDA release it belongs to:
PTX written with `.version 9.0` needs a CUDA 13.0 driver or newer, and an older driver
refuses it (CUDA_ERROR_UNSUPPORTED_PTX_VERSION, "the provided PTX was compiled with an
unsupported toolchain"). The table is NVIDIA's, from the PTX ISA reference, "Release
Notes" (the PTX ISA version each CUDA release brought; CUDA 12.6 brought none, and PTX ISA
8.6 came with CUDA 12.7), the same table cuda-python's
`cuda.bindings.utils.get_minimal_required_cuda_ver_from_ptx_ver` follows. It is the one
place in smbench for these facts.
"""

from __future__ import annotations

# PTX ISA version -> the first CUDA release whose driver knows it.
FIRST_CUDA: dict[tuple[int, int], tuple[int, int]] = {
    (1, 0): (1, 0), (1, 1): (1, 1), (1, 2): (2, 0), (1, 3): (2, 1), (1, 4): (2, 2),
    (2, 0): (3, 0), (2, 1): (3, 1), (2, 2): (3, 2), (2, 3): (4, 0),
    (3, 0): (4, 1), (3, 1): (5, 0), (3, 2): (5, 5),
    (4, 0): (6, 0), (4, 1): (6, 5), (4, 2): (7, 0), (4, 3): (7, 5),
    (5, 0): (8, 0),
    (6, 0): (9, 0), (6, 1): (9, 1), (6, 2): (9, 2), (6, 3): (10, 0), (6, 4): (10, 1), (6, 5): (10, 2),
    (7, 0): (11, 0), (7, 1): (11, 1), (7, 2): (11, 2), (7, 3): (11, 3), (7, 4): (11, 4),
    (7, 5): (11, 5), (7, 6): (11, 6), (7, 7): (11, 7), (7, 8): (11, 8),
    (8, 0): (12, 0), (8, 1): (12, 1), (8, 2): (12, 2), (8, 3): (12, 3), (8, 4): (12, 4),
    (8, 5): (12, 5), (8, 6): (12, 7), (8, 7): (12, 8), (8, 8): (12, 9),
    (9, 0): (13, 0), (9, 1): (13, 1), (9, 2): (13, 2), (9, 3): (13, 3), (9, 4): (13, 4), (9, 5): (13, 5),
}


def parse(text: str | None) -> tuple[int, int] | None:
    """'9.0' -> (9, 0); None or a malformed text -> None."""
    try:
        major, minor = (int(part) for part in str(text).split("."))
    except (TypeError, ValueError):
        return None
    return major, minor


def cuda_needed(isa: tuple[int, int]) -> tuple[int, int] | None:
    """The CUDA release whose driver first JIT-compiles this ISA version; None for a version
    newer than the table (written by a toolkit newer than this smbench knows)."""
    return FIRST_CUDA.get(isa)


def newest_known(cuda: tuple[int, int]) -> tuple[int, int]:
    """The newest PTX ISA version a driver of this CUDA release JIT-compiles. A driver newer
    than the table knows at least the table's newest version."""
    known = [isa for isa, first in FIRST_CUDA.items() if first <= cuda]
    return max(known) if known else (1, 0)


def driver_jits(isa: tuple[int, int], driver_cuda: tuple[int, int]) -> bool:
    """Whether a driver of CUDA `driver_cuda` JIT-compiles PTX of ISA `isa`. An ISA newer
    than the table is judged by the pattern NVIDIA has kept since CUDA 11 (ISA major =
    CUDA major - 4, same minor), never by a guess in the user's favour."""
    needed = cuda_needed(isa)
    if needed is None:
        needed = (isa[0] + 4, isa[1])
    return driver_cuda >= needed


def describe(cuda: tuple[int, int]) -> str:
    return f"CUDA {cuda[0]}.{cuda[1]}"
