"""The device table: what each GPU should do, with the source of every number.

One place for these facts. Each figure carries its kind: V = vendor specification,
M = measured by someone (named), D = derived. A live GPU is matched to a row by name
(and compute capability); an unknown GPU gets its expected bandwidth derived from the
memory clock and bus width the driver reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    kind: str  # "V" vendor, "M" measured, "D" derived
    source: str
    # Which benchmark or precision: "triad", "read", "bf16" (accumulation not stated by the source),
    # "f16_f32acc" (stated), "fp8_gemm" / "fp8_mma_loop" (how it was measured, where that differs).
    what: str = ""


@dataclass(frozen=True)
class DeviceSpec:
    key: str
    name: str
    match: str  # regular expression on the driver's device name
    compute_capability: str | None
    sm_count: int | None
    memory_bandwidth: Figure  # the spec: what the verdicts compare against
    measured_bandwidth: tuple[Figure, ...] = ()
    l2_bytes: int | None = None
    unified_memory: bool = False
    notes: str = ""
    peaks: tuple[Figure, ...] = ()  # dense throughput per precision, TFLOP/s (TOPS for integers)


GB = 1e9

_A100_PEAKS = (
    Figure(312, "TFLOP/s", "V", "NVIDIA A100 datasheet: FP16 tensor, dense, accumulation not stated", "f16"),
    Figure(312, "TFLOP/s", "V", "NVIDIA A100 datasheet: BF16 tensor, dense, accumulation not stated", "bf16"),
    Figure(156, "TFLOP/s", "V", "NVIDIA A100 datasheet: dense", "tf32"),
    Figure(19.5, "TFLOP/s", "V", "NVIDIA A100 datasheet", "fp64_tensor"),
)

DEVICES: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        "gb10", "NVIDIA DGX Spark (GB10)", r"\bGB10\b|DGX Spark", "12.1", 48,
        Figure(273, "GB/s", "V", "NVIDIA DGX Spark product page: 128 GB LPDDR5X, 256-bit, 273 GB/s"),
        (Figure(232.5, "GB/s", "M", "231-234 GB/s, saturating read kernel, CUDA 13.0 (github antirez/ds4 issue 773)",
                "read"),),
        unified_memory=True,
        peaks=(Figure(500, "TFLOP/s", "V", "1 PFLOP FP4 sparse = 500 dense (NVIDIA DGX Spark product page)", "fp4"),
               Figure(356, "TFLOP/s", "M", "NVFP4 GEMM 4096x14336x4096, CUTLASS 4.4 (NVIDIA developer forum topic "
                      "359960)", "nvfp4_gemm"),
               Figure(188, "TFLOP/s", "M", "FP8 GEMM, CUTLASS 4.4, accumulation not stated (NVIDIA developer forum "
                      "topic 359960)", "fp8_gemm"),
               Figure(60, "TFLOP/s", "M", "about 60 TFLOP/s BF16, accumulation not stated, secondary reports of "
                      "J. Carmack's measurement", "bf16"),
               Figure(31, "TFLOP/s", "V", "FP32 31 TFLOP/s (NVIDIA)", "fp32")),
        notes="host is aarch64 (Grace); the GPU shares the LPDDR5X with the CPU; SoC TDP 140 W (V, Hot Chips "
              "2025); about 100 W reported during BF16 work (M, secondary reports of J. Carmack's measurement)"),
    DeviceSpec(
        "rtx5090", "NVIDIA GeForce RTX 5090", r"RTX 5090", "12.0", 170,
        Figure(1792, "GB/s", "V", "NVIDIA RTX 5090 specification: GDDR7, 512-bit"),
        (Figure(1573, "GB/s", "M", "about 1573 GB/s, kernel not stated (NVIDIA/cccl PR 9881)", "measured"),),
        l2_bytes=96 * 2**20, notes="boost 2407 MHz, 575 W",
        peaks=(Figure(419, "TFLOP/s", "V", "RTX Blackwell whitepaper: FP16 with FP16 accumulate", "f16_f16acc"),
               Figure(209.5, "TFLOP/s", "V", "RTX Blackwell whitepaper: FP16/BF16 with FP32 accumulate", "f16_f32acc"),
               Figure(209.5, "TFLOP/s", "V", "RTX Blackwell whitepaper: FP16/BF16 with FP32 accumulate", "bf16_f32acc"),
               Figure(838, "TFLOP/s", "V", "RTX Blackwell whitepaper: FP8 with FP16 accumulate", "fp8_f16acc"),
               Figure(419, "TFLOP/s", "V", "RTX Blackwell whitepaper: FP8 with FP32 accumulate", "fp8_f32acc"),
               Figure(1676, "TFLOP/s", "V", "RTX Blackwell whitepaper: FP4", "fp4"),
               Figure(104.8, "TFLOP/s", "V", "RTX 5090 specification: FP32", "fp32"),
               Figure(253, "TFLOP/s", "M", "mma.sync loop, FP16 with FP32 accumulate, about 2.85 GHz (github "
                      "kekzl/imp tests/bench/mma_peak_saturated.cu)", "f16_f32acc_mma_loop"),
               Figure(496, "TFLOP/s", "M", "mma.sync loop, FP8 e4m3, accumulation not stated (github kekzl/imp)",
                      "fp8_mma_loop"),
               Figure(2019, "TFLOP/s", "M", "2019 TOPS, mma.sync loop, FP4 mxf4nvf4 (github kekzl/imp)",
                      "nvfp4_mma_loop"))),
    DeviceSpec(
        "a100-40", "NVIDIA A100 40GB", r"A100.*(40|PCIE-40|SXM4-40)", "8.0", 108,
        Figure(1555, "GB/s", "V", "NVIDIA A100 datasheet: HBM2, 40 GB"),
        (Figure(1375, "GB/s", "M", "triad 1375 GB/s (RRZE-HPC/gpu-benches gpu-stream/a100_40.txt)", "triad"),
         Figure(1500, "GB/s", "M", "read 1500 GB/s (RRZE-HPC/gpu-benches gpu-stream/a100_40.txt)", "read")),
        l2_bytes=40 * 2**20, notes="1410 MHz, 400 W", peaks=_A100_PEAKS),
    DeviceSpec(
        "a100-80", "NVIDIA A100 80GB SXM", r"A100.*80(?!.*PCIe)", "8.0", 108,
        Figure(2039, "GB/s", "V", "NVIDIA A100 datasheet: HBM2e, 80 GB SXM"),
        (Figure(1794, "GB/s", "M", "triad 1794 GB/s (RRZE-HPC/gpu-benches gpu-stream/a100_80.txt)", "triad"),
         Figure(1776, "GB/s", "M", "read 1776 GB/s (RRZE-HPC/gpu-benches gpu-stream/a100_80.txt)", "read")),
        l2_bytes=40 * 2**20, peaks=_A100_PEAKS),
    DeviceSpec(
        "h100-pcie", "NVIDIA H100 PCIe", r"H100.*PCIe", "9.0", 114,
        Figure(2000, "GB/s", "V", "NVIDIA H100 datasheet: PCIe, HBM2e"),
        (Figure(1832, "GB/s", "M", "triad 1832 GB/s (RRZE-HPC/gpu-benches gpu-stream/h100_pcie.txt)", "triad"),
         Figure(1942, "GB/s", "M", "read 1942 GB/s (RRZE-HPC/gpu-benches gpu-stream/h100_pcie.txt)", "read")),
        l2_bytes=50 * 2**20),
    DeviceSpec(
        "h100-nvl", "NVIDIA H100 NVL", r"H100 NVL", "9.0", 132,
        Figure(3900, "GB/s", "V", "NVIDIA H100 datasheet: NVL, HBM3, 94 GB"),
        l2_bytes=50 * 2**20),
    DeviceSpec(
        "h100-sxm", "NVIDIA H100 SXM", r"H100(?!.*(PCIe|NVL))", "9.0", 132,
        Figure(3350, "GB/s", "V", "NVIDIA H100 datasheet: SXM5, HBM3"),
        l2_bytes=50 * 2**20, notes="1.98 GHz boost, 700 W",
        peaks=(Figure(989, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM, BF16, dense, accumulation not stated", "bf16"),
               Figure(989, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM, FP16, dense, accumulation not stated", "f16"),
               Figure(1979, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM, dense, accumulation not stated", "fp8"),
               Figure(495, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM, dense", "tf32"),
               Figure(67, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM", "fp64_tensor"))),
    DeviceSpec(
        "h200", "NVIDIA H200", r"\bH200\b", "9.0", 132,
        Figure(4800, "GB/s", "V", "NVIDIA H200 datasheet: HBM3e, 141 GB"),
        l2_bytes=50 * 2**20),
    DeviceSpec(
        "m4max", "Apple M4 Max (40-core GPU)", r"M4 Max", None, None,
        Figure(546, "GB/s", "V", "Apple M4 Max specification"),
        (Figure(396, "GB/s", "M", "PyTorch MPS copy (chsasank/device-benchmarks)", "copy"),),
        unified_memory=True, notes="no CUDA; the mlx backend; no tensor cores",
        peaks=(Figure(13.8, "TFLOP/s", "M", "about 13.8 TFLOP/s FP32 via MPS (chsasank/device-benchmarks)", "fp32"),
               Figure(14.8, "TFLOP/s", "M", "about 14.8 TFLOP/s FP16 via MPS (chsasank/device-benchmarks)", "fp16"))),
    DeviceSpec(
        "m3ultra", "Apple M3 Ultra", r"M3 Ultra", None, None,
        Figure(819.2, "GB/s", "V", "Apple M3 Ultra specification"),
        unified_memory=True, notes="no CUDA; the mlx backend",
        peaks=(Figure(28, "TFLOP/s", "D", "about 28 TFLOP/s FP32 (marked derived in shared/facts.md, which does "
                      "not show the derivation)", "fp32"),)),
)

# What counts as normal for a DRAM-resident stream kernel, as fractions of the spec:
# good tools reach 80-93% of HBM/GDDR spec (gpu-stream's A100/H100 files), the Spark
# 85% (231-234 of 273 GB/s). Below LOW the figure is low; above HIGH it cannot be DRAM.
NORMAL_LOW = 0.70
NORMAL_HIGH = 1.02


def by_key(key: str) -> DeviceSpec:
    for spec in DEVICES:
        if spec.key == key:
            return spec
    raise KeyError(key)


def match(name: str, compute_capability: str | None = None) -> DeviceSpec | None:
    """The table's row for a device name as the driver reports it, or None."""
    for spec in DEVICES:
        if re.search(spec.match, name, re.IGNORECASE):
            if compute_capability and spec.compute_capability and spec.compute_capability != compute_capability:
                continue
            return spec
    return None


def derived_bandwidth(memory_clock_khz: float | None, bus_width_bits: int | None) -> Figure | None:
    """Peak DRAM bandwidth from what the driver reports: 2 transfers per memory clock
    (the driver's clock is the DDR half-rate) x bus width."""
    if not memory_clock_khz or not bus_width_bits:
        return None
    value = 2 * memory_clock_khz * 1e3 * bus_width_bits / 8 / GB
    return Figure(round(value, 1), "GB/s", "D",
                  f"2 x memory clock {memory_clock_khz / 1e3:.0f} MHz x {bus_width_bits}-bit bus, as the driver reports")


def expected_bandwidth(name: str, compute_capability: str | None, memory_clock_khz: float | None = None,
                       bus_width_bits: int | None = None) -> tuple[Figure | None, DeviceSpec | None]:
    """(expected DRAM bandwidth, the table row it came from or None when derived)."""
    spec = match(name, compute_capability)
    if spec is not None:
        return spec.memory_bandwidth, spec
    return derived_bandwidth(memory_clock_khz, bus_width_bits), None


def bandwidth_verdict(measured_gbps: float, expected: Figure | None, dram_resident: bool) -> str:
    """normal / low / suspicious-high against the expected band; 'cache' where the working
    set fits in the caches (a DRAM spec says nothing there); 'no expectation' without one."""
    if not dram_resident:
        return "cache"
    if expected is None:
        return "no expectation"
    ratio = measured_gbps / expected.value
    if ratio > NORMAL_HIGH:
        return "suspicious-high"
    if ratio < NORMAL_LOW:
        return "low"
    return "normal"
