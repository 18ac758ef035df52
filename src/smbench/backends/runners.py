"""The backends as the families see them: a Runner per backend (cuda, cpu, mlx), its declared
capabilities, and how one is chosen.

A family asks a runner two kinds of thing. What the device is, as capabilities with names
that say what they mean (where a case's own arrays live, the last-level cache, the memory
kinds, whether the figures are the host CPU's, the device-table row and its DRAM bandwidth),
never the backend's name. And its own code for this backend: `runner.part(family)`, the
module families/<family>/<backend>.py, which satisfies the protocol that family writes in its
folder (families/<family>/part.py). A family whose part a backend lacks is one skipped row,
in the family's own words (Family.needs).
"""

from __future__ import annotations

import importlib
import importlib.util

from smbench import devices
from smbench.backends.facts import MemoryKind
from smbench.errors import SmbenchError
from smbench.errors import one_line as _one_line
from smbench.telemetry import NoTelemetry, Sampler

# Where DRAM starts: a working set this many times the last-level cache. At 4x, an LRU-like
# cache holds at most a quarter of it, so the figure is DRAM's within the noise of its
# hit share (a stream kernel reads and writes every byte once per call).
DRAM_PAST_CACHE = 4


def dram_starts(last_level_cache_bytes: int | None) -> int:
    """The working set (bytes) from which a figure is DRAM's rather than a cache's."""
    return DRAM_PAST_CACHE * (last_level_cache_bytes or 0)


class Runner:
    """What a backend offers every family: its capabilities (below), its primitives
    (`backend`), a telemetry sampler, and each family's code for this backend (`part`).
    `shared` holds what a family measured for others later in the run (the peak loop rates a
    GEMM is held to); it is plain data, so worker processes carry it."""

    name = ""  # the backend: cuda, cpu or mlx; a family's part for it is families/<family>/<name>.py
    why = ""  # why this backend runs here: asked for, or no usable GPU
    # Where a case's own arrays live: "device" (a CUDA GPU's memory), "host" (the CPU path, MLX's
    # CPU device) or "unified" (Apple silicon). Every other kind is one of memory_kinds().
    home_memory = "host"
    last_level_cache_bytes: int | None = None  # the cache before DRAM: a GPU's L2, the host's L3 (or L2)
    figures_are_host_cpu = False  # the CPU path, MLX's CPU device: the suite's [cpu] caps apply
    spec: devices.DeviceSpec | None = None  # the device table's row, where it has one
    dram_bandwidth: devices.Figure | None = None  # DRAM's bandwidth: the row's, or derived from the driver's
    suite = None  # set by prepare_runner: the families read their sections' settings from it

    def __init__(self) -> None:
        self.shared: dict = {}

    def part(self, family: str):
        """families/<family>/<backend>.py: the family's code for this backend."""
        return importlib.import_module(f"smbench.families.{family}.{self.name}")

    def has_part(self, family: str) -> bool:
        return importlib.util.find_spec(f"smbench.families.{family}.{self.name}") is not None

    def lacks(self, family) -> str:
        """Why this backend cannot run the family at all ('' when it can): a family that needs a
        part of its own for each backend (Family.needs) and has none for this one. The run
        writes one skipped row with this reason instead of a row per case; the family's own
        words come first."""
        if not family.needs or self.has_part(family.name):
            return ""
        from smbench.families import registry

        runs = ", ".join(name for name, other in registry().items() if other.needs and self.has_part(name))
        return (f"{family.needs}: the {self.name} backend runs the families with a {self.name} part ({runs}); "
                f"{family.name} has none")

    def sampler(self):
        return NoTelemetry(f"{self.name.upper()} backend: no GPU telemetry")

    def memory_kinds(self) -> list[MemoryKind]:
        """Each kind of memory a case can run in, offered or not and why; the first is home_memory."""
        return [MemoryKind(*kind) for kind in self.info["memory_kinds"]]

    def context_lost(self) -> str:
        return ""


class CpuRunner(Runner):
    name = "cpu"
    home_memory = "host"
    figures_are_host_cpu = True

    def __init__(self, why: str = "asked for"):
        from smbench.backends import cpu

        super().__init__()
        self.why = why  # why the CPU reference path runs: asked for, or no usable GPU
        self.backend = cpu
        self.info = cpu.device_info()
        self.last_level_cache_bytes = max(self.info["l2_bytes"], self.info.get("l3_bytes") or 0)


class CudaRunner(Runner):
    name = "cuda"
    home_memory = "device"

    def __init__(self, suite):
        from smbench.backends import cuda

        super().__init__()
        self.backend = cuda
        self.facts = cuda.device_facts()
        self.info = cuda.device_info()
        self.describe_device(suite)

    def describe_device(self, suite) -> None:
        """What follows from the device's facts (self.facts), with nothing opened: also how
        smbench.prebuild plans for a device that is not here."""
        facts = self.facts
        self.last_level_cache_bytes = facts.l2_bytes
        self.target = self.backend.native_target(facts)
        self.dram_bandwidth, self.spec = devices.expected_bandwidth(
            facts.name, facts.compute_capability, facts.memory_clock_khz, facts.bus_width_bits)
        self.why = (f"device table row {self.spec.key!r}" if self.spec
                    else "not in the device table: expectation derived")
        self.cold_l2 = bool(suite.section("timing")["cold_l2"])
        self.suite = suite

    def timer(self):
        """A device timer on a fresh stream, flushing L2 before each sample when the suite
        asks for cold caches."""
        cupy = self.backend._cupy()
        return self.backend.DeviceTimer(cupy.cuda.Stream(non_blocking=True),
                                        2 * self.facts.l2_bytes if self.cold_l2 else 0)

    def sampler(self) -> Sampler:
        return Sampler(pci_bus_id=self.info.get("pci_bus_id"))

    def memory_kinds(self) -> list[MemoryKind]:
        return self.backend.memory_kinds(self.facts)

    def context_lost(self) -> str:
        """The sticky CUDA error that left this process's context unusable, or '' if it works.
        An asynchronous kernel fault (illegal address, misaligned access, a trap) is sticky:
        every later call, a synchronize included, returns it again."""
        try:
            self.backend._cupy().cuda.runtime.deviceSynchronize()
        except Exception as exc:  # noqa: BLE001 - whatever the error, the context is gone
            return _one_line(exc)
        return ""


# Apple publishes no last-level cache size: on Metal it is taken as 16 MiB, so DRAM starts
# at 64 MiB, above the M-series system-level caches (a stated assumption).
METAL_LAST_LEVEL_CACHE = 16 << 20


class MlxRunner(Runner):
    """Apple silicon through MLX: the Metal GPU on a Mac; on Linux MLX's CPU device, whose
    figures are the host's and are labelled mlx-cpu, not Apple hardware. Only the families
    with an mlx part run; the others are one skipped row each."""

    name = "mlx"

    def __init__(self, why: str = "asked for"):
        from smbench.backends import mlx

        super().__init__()
        self.backend = mlx
        mlx.use_device()
        self.info = mlx.device_info()
        self.metal = bool(self.info["metal"])
        self.figures_are_host_cpu = not self.metal
        self.home_memory = "unified" if self.metal else "host"
        self.last_level_cache_bytes = (METAL_LAST_LEVEL_CACHE if self.metal else
                                       max(self.info.get("l2_bytes") or 0, self.info.get("l3_bytes") or 0))
        if self.metal:
            # The name carries the GPU core count: a binned chip has its own row (less bandwidth).
            self.dram_bandwidth, self.spec = devices.expected_bandwidth(self.info["name"], None)
            row = f"device table row {self.spec.key!r}" if self.spec else "not in the device table: no expectation"
            self.why = f"{why}; Metal GPU, {row}"
        else:
            self.why = f"{why}; MLX's CPU device: no Apple expectation"

    def sampler(self):
        return NoTelemetry(self.backend.telemetry_note(self.metal))


def make_runner(name: str, suite):
    """A runner for a backend already known to work here (a worker process's)."""
    if name == "cuda":
        return CudaRunner(suite)
    return MlxRunner() if name == "mlx" else CpuRunner()


def prepare_runner(runner, suite) -> None:
    runner.suite = suite  # the families read their sections' settings from it


def resolve_backend(choice: str, suite):
    """The backend asked for; auto: CUDA where a GPU is usable, else MLX on a Mac with Metal
    (never MLX's CPU device: on Linux auto falls back to the CPU path), else the CPU path."""
    from smbench.backends import CHOICES

    if choice not in CHOICES:
        raise SmbenchError(f"unknown backend {choice!r} ({', '.join(CHOICES)})")
    if choice == "cpu":
        return CpuRunner()
    if choice == "mlx":
        from smbench.backends import mlx

        mlx.mx()  # a one-line error with the install command when MLX is missing
        return MlxRunner()
    from smbench.backends import cuda

    usable, why = cuda.available()
    if usable:
        return CudaRunner(suite)
    if choice == "cuda":
        raise SmbenchError(f"--backend cuda, but no usable GPU: {why}")
    metal = _metal_here()
    if metal:
        return MlxRunner(f"no usable CUDA GPU: {why}")
    return CpuRunner(f"no usable GPU: {why}")


def _metal_here() -> bool:
    """MLX with Metal on a Mac (only checked where there is no CUDA GPU)."""
    import platform

    if platform.system() != "Darwin":
        return False
    from smbench.backends import mlx

    try:
        return mlx.on_metal()
    except SmbenchError:
        return False
