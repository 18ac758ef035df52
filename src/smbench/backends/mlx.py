"""The MLX backend: Apple silicon's GPU through Metal on a Mac; on Linux, mlx[cpu] runs the
same code on MLX's CPU device (how this backend is tested without a Mac).

Primitives only, as the other backends offer: MLX imported lazily (a one-line error with the
install command when it is missing), the device described (on a Mac: the chip, its GPU cores
and memory; elsewhere: the host, said to be mlx-cpu and not Apple hardware), its one memory
kind (unified) and a timer. MLX is lazy: an operation only records a graph, and nothing runs
until mx.eval (or mx.async_eval) asks for a result. The timer therefore queues every output
of a timed sample for evaluation inside the sample and ends it with a synchronize, and each
family checks that what it timed was computed.
What a family runs lives in its folder (families/<name>/mlx.py).
"""

from __future__ import annotations

import collections
import functools
import json
import os
import platform
import subprocess
import time

from smbench.errors import SmbenchError
from smbench.timing import Stats, TimingPolicy, calls_per_sample, measure

NAME = "mlx"
INSTALL = "pip install 'smbench[mlx]'"
NOT_APPLE = "mlx-cpu: not Apple hardware"
# Outputs one timed sample may hold at once: each MLX operation writes a fresh array, alive
# until it is computed and dropped (a working set of gigabytes holds two at a time).
SAMPLE_BYTES = 256 << 20
MOST_PER_SAMPLE = 64
# A sample lasts at least this long where MOST_PER_SAMPLE calls allow: MLX's eval and
# synchronize cost tens of microseconds, amortised over the sample's calls.
SAMPLE_SECONDS = 0.02
FEWEST_PER_SAMPLE = 4


def mx():
    """mlx.core, or a one-line error saying how to install it."""
    try:
        import mlx.core as core
    except Exception as exc:  # noqa: BLE001 - not installed, or no wheel for this platform
        raise SmbenchError(f"the mlx backend needs MLX ({type(exc).__name__}: {exc}); install it with "
                           f"{INSTALL}") from None
    return core


def available() -> tuple[bool, str]:
    """(MLX imports, why not)."""
    try:
        mx()
    except SmbenchError as exc:
        return False, str(exc)
    return True, ""


def on_metal() -> bool:
    """MLX runs on Apple's GPU here (macOS with Metal), not on its CPU device."""
    core = mx()
    metal = getattr(core, "metal", None)
    return bool(metal is not None and metal.is_available())


def use_device() -> None:
    """The GPU where Metal is present, else MLX's CPU device: the same code on either."""
    core = mx()
    core.set_default_device(core.gpu if on_metal() else core.cpu)


def _raw_info() -> dict:
    core = mx()
    for reader in (getattr(core, "device_info", None), getattr(getattr(core, "metal", None), "device_info", None)):
        if reader is None:
            continue
        try:
            info = reader()
        except Exception:  # noqa: BLE001 - an older MLX, or no Metal device
            continue
        if info:
            return dict(info)
    return {}


@functools.lru_cache(maxsize=None)
def gpu_cores() -> int | None:
    """The GPU core count macOS reports (system_profiler; MLX does not say), or None."""
    if platform.system() != "Darwin":
        return None
    try:
        out = subprocess.run(["system_profiler", "-json", "SPDisplaysDataType"], capture_output=True, text=True,
                             timeout=20)
        for item in json.loads(out.stdout).get("SPDisplaysDataType", []):
            cores = item.get("sppci_cores")
            if cores:
                return int(cores)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return None


@functools.lru_cache(maxsize=None)
def _chip_from_macos() -> str | None:
    """The chip's name as macOS gives it ("Apple M4 Max"), or None."""
    if platform.system() != "Darwin":
        return None
    try:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = out.stdout.strip()
    return name if name.startswith("Apple") else None


def apple_hardware() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def device_info() -> dict:
    """What the records say of the device: on Metal the chip MLX names, its GPU cores and
    memory; on MLX's CPU device the host, labelled mlx-cpu (not Apple hardware on Linux)."""
    from smbench.backends import cpu

    core = mx()
    raw = {k: v for k, v in _raw_info().items() if isinstance(v, (int, float, str, bool))}
    version = getattr(core, "__version__", "?")
    metal = on_metal()
    apple = apple_hardware()
    common = {"backend": NAME, "mlx_version": version, "mlx_device_info": raw, "unified_memory": True,
              "apple_hardware": apple, "metal": metal}
    if metal:
        # An older MLX names no chip (only an architecture such as applegpu_g16s): macOS does.
        chip = str(raw.get("device_name") or _chip_from_macos() or raw.get("architecture") or "Apple GPU")
        cores = gpu_cores()
        total = int(raw.get("memory_size") or 0) or None
        # Metal's recommended working set is what one process should allocate on the GPU.
        free = int(raw.get("max_recommended_working_set_size") or total or cpu.available_bytes())
        return {**common, "name": chip + (f" ({cores}-core GPU)" if cores else ""), "chip": chip,
                "gpu_cores": cores, "total_bytes": total, "free_bytes": free,
                "l2_bytes": None, "device": "gpu",
                "memory_kinds": [("unified", True, "MLX arrays in unified memory, shared by the CPU and the GPU")]}
    what = "Apple CPU through MLX's CPU device, not its GPU" if apple else "not Apple hardware"
    return {**common, "name": f"mlx-cpu ({platform.machine()}, {os.cpu_count()} CPUs, MLX {version}; {what})",
            "chip": None, "gpu_cores": None, "device": "cpu",
            "l2_bytes": cpu.cache_bytes(2, 1 << 20), "l3_bytes": cpu.cache_bytes(3, 0),
            "free_bytes": cpu.available_bytes(),
            "memory_kinds": [("host", True, "MLX arrays in host memory (MLX's CPU device)")]}


def telemetry_note(metal: bool) -> str:
    return ("mlx backend: no telemetry (macOS gives GPU clocks and power only to root, through powermetrics)"
            if metal else "mlx backend on MLX's CPU device: no GPU telemetry")


# ---------------------------------------------------------------- timing

def per_sample(output_bytes: int, most: int = MOST_PER_SAMPLE) -> int:
    """Calls per timed sample when every output is held until the sample ends: up to `most`,
    as many as keep a sample's outputs within SAMPLE_BYTES."""
    return max(1, min(most, SAMPLE_BYTES // max(1, output_bytes)))


def in_flight(output_bytes: int) -> int:
    """Outputs a sample holds at once: as many as fit in SAMPLE_BYTES, at least two, so the
    next call is queued while one runs."""
    return max(2, SAMPLE_BYTES // max(1, output_bytes))


def reps_for(pilot_seconds: float, most: int = MOST_PER_SAMPLE) -> int:
    """Calls per timed sample after a pilot call: enough for SAMPLE_SECONDS, never fewer than
    FEWEST_PER_SAMPLE (the largest sizes too get several calls), at most `most`."""
    return calls_per_sample(pilot_seconds, SAMPLE_SECONDS, most, FEWEST_PER_SAMPLE)


def pilot_seconds(call) -> float:
    """One evaluated call (after one untimed call that compiles and allocates), on the host clock."""
    evaluate(call(0))
    start = time.perf_counter()
    evaluate(call(0))
    return time.perf_counter() - start


def evaluate(outputs) -> None:
    """Compute every output and wait for the device: mx.eval, then a synchronize (eval
    returns when the work is done on current MLX; the synchronize makes sure)."""
    core = mx()
    core.eval(outputs)
    synchronize = getattr(core, "synchronize", None)
    if synchronize is not None:
        synchronize()


def time_calls(call, reps: int, policy: TimingPolicy, keep: list | None = None, window: int | None = None) -> Stats:
    """Seconds per call of `call(i)` (which records the i-th call's graph and returns its
    outputs), `reps` calls a sample. Each call's outputs are queued with mx.async_eval as
    soon as recorded, so the device runs call i while the host records call i + 1. At most
    `window` outputs (default: all `reps`) are held: past that the oldest is waited for
    (mx.eval) and dropped, which bounds memory (MLX allocates an output when it is queued).
    The sample ends by evaluating what is held and a synchronize, so every call it queued
    was computed inside it. `keep` receives the outputs held at the end of the last sample
    (the last `window` calls), for the family to check that each was computed."""
    core = mx()
    held = max(1, window or reps)

    def sample() -> float:
        start = time.perf_counter()
        live: collections.deque = collections.deque()
        for i in range(reps):
            outputs = call(i)
            core.async_eval(outputs)
            live.append(outputs)
            if len(live) > held:
                core.eval(live.popleft())
        evaluate(list(live))
        seconds = time.perf_counter() - start
        if keep is not None:
            keep[:] = live
        return seconds / reps

    return measure(sample, policy)


def to_numpy(array):
    """An MLX array's values in NumPy (bf16 as float32: NumPy has no bf16)."""
    import numpy as np

    core = mx()
    if array.dtype == core.bfloat16:
        array = array.astype(core.float32)
    return np.array(array)


def primitives(outputs) -> list[str]:
    """The names of the primitives MLX would run to compute `outputs` (not yet evaluated),
    from its own graph export (mx.export_to_dot): a fused kernel is one 'Compiled...' node."""
    import re
    import tempfile

    core = mx()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "graph.dot")
        core.export_to_dot(path, outputs)
        with open(path) as handle:
            return re.findall(r'label ="([^"]+)"', handle.read())
