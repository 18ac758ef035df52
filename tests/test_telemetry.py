import time

from smbench import telemetry


class FakeNVML:
    """pynvml's functions as smbench calls them, for a GPU whose clock sags mid-run."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, clocks, reasons=0, energy=True, power=True):
        self.clocks = list(clocks)
        self.reads = 0
        self.reasons = reasons
        self.energy = energy
        self.power = power
        self.energy_mj = 1_000_000
        self.shutdown = False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", index)

    def nvmlDeviceGetClockInfo(self, handle, kind):
        if kind == self.NVML_CLOCK_MEM:
            return 2619
        value = self.clocks[min(self.reads, len(self.clocks) - 1)]
        self.reads += 1
        return value

    def nvmlDeviceGetMaxClockInfo(self, handle, kind):
        return 1980

    def nvmlDeviceGetPowerUsage(self, handle):
        if not self.power:
            raise RuntimeError("NVMLError_NotSupported")
        return 350_000  # mW

    def nvmlDeviceGetTemperature(self, handle, kind):
        return 61

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self.reasons

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.energy:
            raise RuntimeError("NVMLError_NotSupported")
        self.energy_mj += 5_000
        return self.energy_mj


def _work(seconds: float) -> None:
    """Timed device work as the device timer reports it."""
    start = time.perf_counter()
    time.sleep(seconds)
    telemetry.mark_work(start, time.perf_counter())


def test_summary_of_a_steady_gpu():
    nvml = FakeNVML([1980])
    with telemetry.Sampler(interval_s=0.005, nvml=nvml) as sampler:
        _work(0.05)
    summary = sampler.summary
    assert summary.available and len(summary.samples) >= 3 and nvml.shutdown
    assert summary.sm_clock_mhz == {"min": 1980, "median": 1980, "max": 1980}
    assert summary.memory_clock_mhz["max"] == 2619 and summary.mean_power_w == 350
    assert summary.energy_j == 5.0  # the energy counter moved by 5000 mJ
    assert not summary.throttled and summary.low_clock_samples == 0 and summary.max_temperature_c == 61


def test_low_clock_samples_are_flagged_and_reasons_named():
    nvml = FakeNVML([1980, 1400, 1400, 1980], reasons=0x4 | 0x1)
    with telemetry.Sampler(interval_s=0.005, nvml=nvml) as sampler:
        telemetry.mark_work(time.perf_counter() - 1, time.perf_counter())  # from the first sample on
        _work(0.05)
    summary = sampler.summary
    assert summary.low_clock_samples == 2 and summary.throttled
    assert "software power cap" in summary.throttle_reasons and "gpu idle" not in summary.throttle_reasons
    assert any("under 75% of max in 2 samples" in r for r in summary.throttle_reasons)
    assert [s.low_clock for s in summary.samples[:4]] == [False, True, True, False]


def test_energy_is_integrated_from_power_without_a_counter():
    samples = [telemetry.Sample(t, 1900, 2600, 100.0 + 10 * t, 50, 0) for t in (0.0, 1.0, 2.0)]
    summary = telemetry.summarize(samples, 1980, None)
    assert summary.energy_j == 220  # trapezoids: (100+110)/2 + (110+120)/2


def test_unsupported_fields_are_unknown_not_fatal():
    nvml = FakeNVML([1980], energy=False, power=False)
    with telemetry.Sampler(interval_s=0.005, nvml=nvml) as sampler:
        _work(0.02)
    summary = sampler.summary
    assert summary.available and summary.mean_power_w is None and summary.energy_j is None


def test_no_nvml_means_unavailable():
    class Broken:
        def nvmlInit(self):
            raise OSError("NVML Shared Library Not Found")

    with telemetry.Sampler(nvml=Broken()) as sampler:
        pass
    assert not sampler.summary.available and "NVML Shared Library Not Found" in sampler.summary.why_unavailable
    assert sampler.summary.to_dict(with_samples=False)["available"] is False


def test_the_real_module_without_a_gpu_is_unavailable_too():
    with telemetry.Sampler() as sampler:
        pass
    # here (no GPU) NVML cannot start; on a GPU machine it can: either way nothing raises
    assert sampler.summary.available or sampler.summary.why_unavailable


class IdleThenBusyNVML(FakeNVML):
    """An H200 as NVML sees it: 345 MHz while the host sets up, 1980 MHz once kernels run."""

    def __init__(self):
        super().__init__([1980], reasons=0x1)
        self.busy = False

    def nvmlDeviceGetClockInfo(self, handle, kind):
        if kind == self.NVML_CLOCK_MEM:
            return 2619
        return 1980 if self.busy else 345

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return 0 if self.busy else 0x1

    def nvmlDeviceGetApplicationsClock(self, handle, kind):
        return 1755


def test_samples_before_the_timed_work_are_not_summarised():
    nvml = IdleThenBusyNVML()
    with telemetry.Sampler(interval_s=0.003, nvml=nvml) as sampler:
        time.sleep(0.04)  # setup, compilation, validation: the GPU idles at 345 MHz
        nvml.busy = True
        _work(0.06)
        nvml.busy = False
        time.sleep(0.03)  # after the work: idle again
    summary = sampler.summary
    assert any(s.sm_clock_mhz == 345 for s in summary.samples)  # kept in the record, marked outside
    assert all(s.sm_clock_mhz == 1980 for s in summary.samples if s.in_work)
    assert summary.work_samples >= telemetry.MIN_WORK_SAMPLES
    assert summary.sm_clock_mhz["min"] == 1980 and not summary.throttled and summary.low_clock_samples == 0
    assert summary.clock_mhz == 1980 and "inside the timed work" in summary.clock_source


def test_too_few_samples_in_the_work_fall_back_to_the_application_clock():
    nvml = IdleThenBusyNVML()
    with telemetry.Sampler(interval_s=0.05, nvml=nvml) as sampler:
        time.sleep(0.01)
        _work(0.001)  # one short kernel between two samples
    summary = sampler.summary
    assert summary.work_samples < telemetry.MIN_WORK_SAMPLES and not summary.throttled
    assert summary.clock_mhz == 1755 and "application SM clock" in summary.clock_source


def test_no_marked_work_summarises_nothing_and_says_so():
    nvml = FakeNVML([345], reasons=0x1)
    nvml.nvmlDeviceGetApplicationsClock = None  # not supported: the maximum clock is used
    with telemetry.Sampler(interval_s=0.005, nvml=nvml) as sampler:
        time.sleep(0.02)
    summary = sampler.summary
    assert summary.work_samples == 0 and not summary.throttled and summary.sm_clock_mhz == {}
    assert summary.clock_mhz == 1980 and "maximum SM clock" in summary.clock_source
