"""NVML telemetry while a benchmark runs: clocks, power, temperature, throttle reasons.

A background thread samples the GPU every `interval_s`. The summary each result
carries: SM clock min/median/max, memory clock, mean power, energy in joules (from
NVML's energy counter where the GPU has one, else power integrated over time),
temperature, and whether the GPU throttled and why. A sample whose SM clock is under
75% of the GPU's maximum is flagged, as nvbench does. Without NVML or a GPU the
summary says "unavailable" and why; nothing raises.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import asdict, dataclass, field

# NVML clock-event (throttle) reason bits, from nvml.h; "idle" and the application-clock
# setting are not slowdowns and are left out of `throttled`.
REASONS = {
    0x1: "gpu idle",
    0x2: "applications clocks setting",
    0x4: "software power cap",
    0x8: "hardware slowdown",
    0x10: "sync boost",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "hardware power brake",
    0x100: "display clock setting",
}
NOT_SLOWDOWNS = 0x1 | 0x2 | 0x100
LOW_CLOCK_FRACTION = 0.75
MIN_WORK_SAMPLES = 3

_OPEN: list["Sampler"] = []  # samplers inside their `with` block now; mark_work tells each


def mark_work(start: float, end: float) -> None:
    """A stretch of timed device work, in time.perf_counter() seconds (the device timer calls
    this around its timed samples)."""
    for sampler in list(_OPEN):
        sampler.work(start, end)


@dataclass
class Sample:
    t: float  # seconds since the sampler started
    sm_clock_mhz: float | None
    memory_clock_mhz: float | None
    power_w: float | None
    temperature_c: float | None
    reasons: int | None
    low_clock: bool = False
    in_work: bool = True  # taken inside the timed work (only these are summarised)


@dataclass
class Summary:
    available: bool
    why_unavailable: str = ""
    samples: list[Sample] = field(default_factory=list)
    sm_clock_max_mhz: float | None = None  # the GPU's maximum, for the 75% rule
    sm_clock_mhz: dict = field(default_factory=dict)  # min/median/max seen
    memory_clock_mhz: dict = field(default_factory=dict)
    mean_power_w: float | None = None
    energy_j: float | None = None
    max_temperature_c: float | None = None
    throttled: bool = False
    throttle_reasons: list[str] = field(default_factory=list)
    low_clock_samples: int = 0
    work_samples: int = 0  # samples inside the timed work: the ones summarised
    clock_mhz: float | None = None  # the SM clock that expectations use
    clock_source: str = ""  # where clock_mhz comes from

    def to_dict(self, with_samples: bool = True) -> dict:
        data = asdict(self)
        if not with_samples:
            data.pop("samples")
        return data


def _spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else {}


def reason_names(mask: int) -> list[str]:
    return [name for bit, name in REASONS.items() if mask & bit]


def summarize(samples: list[Sample], sm_clock_max: float | None, energy_j: float | None,
              window: tuple[float, float] | None = None, application_clock: float | None = None) -> Summary:
    """The samples inside `window` (seconds since the sampler started; None: all of them)
    summarised; the others are kept, marked in_work=False."""
    for sample in samples:
        sample.in_work = window is None or window[0] <= sample.t <= window[1]
        sample.low_clock = bool(sample.in_work and sm_clock_max and sample.sm_clock_mhz is not None
                                and sample.sm_clock_mhz < LOW_CLOCK_FRACTION * sm_clock_max)
    working = [s for s in samples if s.in_work]
    powers = [s.power_w for s in working if s.power_w is not None]
    if energy_j is None and len(working) > 1 and len(powers) == len(working):
        # Trapezoids over the samples: an estimate where the GPU has no energy counter.
        energy_j = sum((b.t - a.t) * (a.power_w + b.power_w) / 2 for a, b in zip(working, working[1:]))
    mask = 0
    for sample in working:
        mask |= sample.reasons or 0
    slowdowns = mask & ~NOT_SLOWDOWNS
    temperatures = [s.temperature_c for s in working if s.temperature_c is not None]
    low = sum(s.low_clock for s in working)
    clocks = [s.sm_clock_mhz for s in working if s.sm_clock_mhz is not None]
    if len(clocks) >= MIN_WORK_SAMPLES:
        clock, source = statistics.median(clocks), f"median SM clock of {len(clocks)} NVML samples inside the timed work"
    elif application_clock:
        clock, source = application_clock, (f"the driver's application SM clock: {len(clocks)} NVML samples fell "
                                            f"inside the timed work, fewer than {MIN_WORK_SAMPLES}")
    elif sm_clock_max:
        clock, source = sm_clock_max, (f"the driver's maximum SM clock: {len(clocks)} NVML samples fell inside "
                                       f"the timed work, fewer than {MIN_WORK_SAMPLES}")
    else:
        clock, source = None, f"no clock: {len(clocks)} NVML samples inside the timed work and no driver clock"
    return Summary(
        available=True, samples=samples, sm_clock_max_mhz=sm_clock_max,
        sm_clock_mhz=_spread(clocks),
        memory_clock_mhz=_spread([s.memory_clock_mhz for s in working if s.memory_clock_mhz is not None]),
        mean_power_w=statistics.fmean(powers) if powers else None, energy_j=energy_j,
        max_temperature_c=max(temperatures) if temperatures else None,
        throttled=bool(slowdowns) or low > 0,
        throttle_reasons=reason_names(slowdowns) + ([f"SM clock under 75% of max in {low} samples"] if low else []),
        low_clock_samples=low, work_samples=len(working), clock_mhz=clock, clock_source=source)


class Sampler:
    """with Sampler(index) as sampler: ...; then sampler.summary. `nvml` may be a stand-in
    module with pynvml's functions (the tests use one)."""

    def __init__(self, device_index: int = 0, interval_s: float = 0.02, nvml=None, pci_bus_id: str | None = None):
        self.device_index = device_index
        self.pci_bus_id = pci_bus_id  # names the CUDA device's GPU whatever CUDA_VISIBLE_DEVICES says
        self.interval_s = interval_s
        self._nvml = nvml
        self._samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._why = ""
        self._handle = None
        self._energy_start = None
        self._t0 = 0.0
        self._work: tuple[float, float] | None = None  # perf_counter span of the timed work
        self._application_clock = None
        self.summary = Summary(available=False, why_unavailable="not started")

    def _call(self, name: str, *args):
        try:
            return getattr(self._nvml, name)(*args)
        except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: that field is unknown
            return None

    def _open(self) -> bool:
        try:
            if self._nvml is None:
                import pynvml

                self._nvml = pynvml
            self._nvml.nvmlInit()
            if self.pci_bus_id and hasattr(self._nvml, "nvmlDeviceGetHandleByPciBusId"):
                self._handle = self._nvml.nvmlDeviceGetHandleByPciBusId(self.pci_bus_id)
            else:
                self._handle = self._nvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except Exception as exc:  # noqa: BLE001 - no NVML or no GPU: say so, carry on
            self._why = f"NVML unavailable: {type(exc).__name__}: {exc}".strip()
            return False
        return True

    def _read(self) -> Sample:
        nvml, handle = self._nvml, self._handle
        sm = self._call("nvmlDeviceGetClockInfo", handle, getattr(nvml, "NVML_CLOCK_SM", 1))
        memory = self._call("nvmlDeviceGetClockInfo", handle, getattr(nvml, "NVML_CLOCK_MEM", 2))
        power = self._call("nvmlDeviceGetPowerUsage", handle)
        temperature = self._call("nvmlDeviceGetTemperature", handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
        reasons = self._call("nvmlDeviceGetCurrentClocksEventReasons", handle)
        if reasons is None:
            reasons = self._call("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
        return Sample(time.perf_counter() - self._t0, sm, memory, power / 1000 if power is not None else None,
                      temperature, reasons)

    def work(self, start: float, end: float) -> None:
        """Widen the timed-work span to include [start, end] (perf_counter seconds)."""
        self._work = (start, end) if self._work is None else (min(self._work[0], start), max(self._work[1], end))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._samples.append(self._read())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "Sampler":
        self._t0 = time.perf_counter()
        if self._open():
            self._energy_start = self._call("nvmlDeviceGetTotalEnergyConsumption", self._handle)
            self._application_clock = self._call("nvmlDeviceGetApplicationsClock", self._handle,
                                                  getattr(self._nvml, "NVML_CLOCK_SM", 1))
            self._samples.append(self._read())
            self._thread = threading.Thread(target=self._loop, name="smbench-telemetry", daemon=True)
            self._thread.start()
        _OPEN.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if self in _OPEN:
            _OPEN.remove(self)
        if self._thread is None:
            self.summary = Summary(available=False, why_unavailable=self._why)
            return
        self._stop.set()
        self._thread.join()
        self._samples.append(self._read())
        energy_end = self._call("nvmlDeviceGetTotalEnergyConsumption", self._handle)
        energy = ((energy_end - self._energy_start) / 1000
                  if energy_end is not None and self._energy_start is not None else None)
        maximum = self._call("nvmlDeviceGetMaxClockInfo", self._handle, getattr(self._nvml, "NVML_CLOCK_SM", 1))
        # No timed work marked: no sample was taken inside it, so none is summarised.
        window = (1.0, 0.0) if self._work is None else (self._work[0] - self._t0, self._work[1] - self._t0)
        self.summary = summarize(self._samples, maximum, energy, window, self._application_clock)
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def pcie_link(pci_bus_id: str | None = None, device_index: int = 0, nvml=None) -> dict:
    """{"generation", "width"} of the PCIe link NVML reports as the most this device and system
    allow (nvmlDeviceGetMaxPcieLinkGeneration / Width: the current link idles lower), or
    {"why": ...}. Never raises."""
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - no NVML: the host link is unknown, and said so
        return {"why": f"NVML unavailable: {type(exc).__name__}"}
    try:
        if pci_bus_id and hasattr(nvml, "nvmlDeviceGetHandleByPciBusId"):
            handle = nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
        else:
            handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        return {"generation": int(nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle)),
                "width": int(nvml.nvmlDeviceGetMaxPcieLinkWidth(handle))}
    except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported (an integrated GPU has no PCIe link)
        return {"why": f"NVML gave no PCIe link: {type(exc).__name__}"}
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


class NoTelemetry:
    """The sampler of a backend without GPU telemetry (the CPU path): its summary says why."""

    def __init__(self, why: str):
        self.summary = Summary(available=False, why_unavailable=why)

    def work(self, start: float, end: float) -> None:
        pass

    def __enter__(self) -> "NoTelemetry":
        return self

    def __exit__(self, *exc) -> None:
        pass
