"""What the CUDA driver says about the GPUs on this machine, if there are any.

Queried through cuda.bindings.driver, so it needs no CuPy and no NVML. On a machine
with no NVIDIA driver, list_gpus() returns no GPUs and the reason, never raises.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GpuInfo:
    index: int
    name: str
    major: int
    minor: int
    sm_count: int
    memory_bytes: int
    sm_clock_mhz: float | None
    memory_clock_mhz: float | None
    bus_width_bits: int | None
    l2_bytes: int | None
    integrated: bool

    @property
    def compute_capability(self) -> str:
        return f"{self.major}.{self.minor}"


def driver_version() -> tuple[tuple[int, int] | None, str]:
    """((major, minor) or None, why not)."""
    try:
        from cuda.bindings import driver

        (err,) = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return None, f"cuInit failed: {err.name}"
        err, version = driver.cuDriverGetVersion()
        if err != driver.CUresult.CUDA_SUCCESS:
            return None, f"cuDriverGetVersion failed: {err.name}"
        return (version // 1000, (version % 1000) // 10), ""
    except Exception as exc:  # noqa: BLE001 - no driver library is the ordinary no-GPU case
        text = str(exc).strip().splitlines()
        return None, text[0] if text else type(exc).__name__


def _attribute(driver, device, name: str) -> int | None:
    attribute = getattr(driver.CUdevice_attribute, name, None)
    if attribute is None:
        return None
    err, value = driver.cuDeviceGetAttribute(attribute, device)
    return int(value) if err == driver.CUresult.CUDA_SUCCESS else None


def list_gpus() -> tuple[list[GpuInfo], str]:
    """(GPUs, reason there are none)."""
    version, why = driver_version()
    if version is None:
        return [], why
    from cuda.bindings import driver

    err, count = driver.cuDeviceGetCount()
    if err != driver.CUresult.CUDA_SUCCESS or count == 0:
        return [], "the driver reports no CUDA device"
    gpus = []
    for index in range(count):
        err, device = driver.cuDeviceGet(index)
        if err != driver.CUresult.CUDA_SUCCESS:
            continue
        err, raw_name = driver.cuDeviceGetName(256, device)
        name = raw_name.split(b"\0", 1)[0].decode() if isinstance(raw_name, bytes) else str(raw_name)
        err, total = driver.cuDeviceTotalMem(device)
        attr = lambda n: _attribute(driver, device, n)  # noqa: E731
        clock = attr("CU_DEVICE_ATTRIBUTE_CLOCK_RATE")
        memory_clock = attr("CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE")
        gpus.append(GpuInfo(
            index=index, name=name,
            major=attr("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR") or 0,
            minor=attr("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR") or 0,
            sm_count=attr("CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT") or 0,
            memory_bytes=int(total) if err == driver.CUresult.CUDA_SUCCESS else 0,
            sm_clock_mhz=clock / 1000 if clock else None,
            memory_clock_mhz=memory_clock / 1000 if memory_clock else None,
            bus_width_bits=attr("CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH"),
            l2_bytes=attr("CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE"),
            integrated=bool(attr("CU_DEVICE_ATTRIBUTE_INTEGRATED")),
        ))
    return gpus, ""
