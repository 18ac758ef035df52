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
    # Each family's VOCABULARY (Family.vocabulary) says which measured figure each `what` describes.
    what: str = ""
    shape: str = ""  # the GEMM shape (M x N x K) the source states it at, written as records write it


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
    rate_table: str | None = None  # SM_RATES key where it is not the compute capability


GB = 1e9

_A100_PEAKS = (
    Figure(312, "TFLOP/s", "V", "NVIDIA A100 datasheet: FP16 tensor, dense, accumulation not stated", "f16"),
    Figure(312, "TFLOP/s", "V", "NVIDIA A100 datasheet: BF16 tensor, dense, accumulation not stated", "bf16"),
    Figure(156, "TFLOP/s", "V", "NVIDIA A100 datasheet: dense", "tf32"),
    Figure(19.5, "TFLOP/s", "V", "NVIDIA A100 datasheet", "fp64_tensor"),
)

_H100_PCIE = "NVIDIA H100 datasheet: PCIe, "
_B200 = "NVIDIA HGX B200 specification, per GPU: "


def _apple_fp32(cores: int) -> Figure:
    """An Apple GPU's FP32 peak, derived from its core count (Apple's specification): 128 FP32
    lanes per core x 2 FLOP per FMA x about 1.4 GHz (Apple publishes no GPU clock)."""
    value = cores * 128 * 2 * 1.4e9 / 1e12
    return Figure(round(value), "TFLOP/s", "D", f"about {value:.0f} TFLOP/s FP32, derived: {cores} GPU cores (Apple "
                  f"specification) x 128 FP32 lanes per core x 2 FLOP per FMA x about 1.4 GHz (Apple publishes no "
                  f"GPU clock)", "fp32")

DEVICES: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        "gb10", "NVIDIA DGX Spark (GB10)", r"\bGB10\b|DGX Spark", "12.1", 48,
        Figure(273, "GB/s", "V", "NVIDIA DGX Spark product page: 128 GB LPDDR5X, 256-bit, 273 GB/s"),
        (Figure(232.5, "GB/s", "M", "231-234 GB/s, saturating read kernel, CUDA 13.0 (github antirez/ds4 issue 773)",
                "read"),),
        unified_memory=True,
        peaks=(Figure(500, "TFLOP/s", "V", "1 PFLOP FP4 sparse = 500 dense (NVIDIA DGX Spark product page)", "fp4"),
               Figure(356, "TFLOP/s", "M", "NVFP4 GEMM 4096x14336x4096, CUTLASS 4.4 (NVIDIA developer forum topic "
                      "359960)", "nvfp4_gemm", "4096x14336x4096"),
               Figure(188, "TFLOP/s", "M", "FP8 GEMM, CUTLASS 4.4, 'peak (large GEMM)': shape and accumulation not "
                      "stated (NVIDIA developer forum topic 359960)", "fp8_gemm"),
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
        l2_bytes=50 * 2**20,
        peaks=(Figure(756, "TFLOP/s", "V", _H100_PCIE + "FP16/BF16 tensor 1513 with sparsity, 756 dense", "f16"),
               Figure(756, "TFLOP/s", "V", _H100_PCIE + "FP16/BF16 tensor 1513 with sparsity, 756 dense", "bf16"),
               Figure(378, "TFLOP/s", "V", _H100_PCIE + "TF32 756 with sparsity, 378 dense", "tf32"),
               Figure(1513, "TFLOP/s", "V", _H100_PCIE + "FP8 3026 with sparsity, 1513 dense", "fp8"),
               Figure(1513, "TOPS", "V", _H100_PCIE + "INT8 3026 with sparsity, 1513 dense", "int8"),
               Figure(51, "TFLOP/s", "V", _H100_PCIE + "FP64 tensor", "fp64_tensor"),
               Figure(51, "TFLOP/s", "V", _H100_PCIE + "FP32", "fp32"),
               Figure(26, "TFLOP/s", "V", _H100_PCIE + "FP64", "fp64"))),
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
               Figure(67, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM", "fp64_tensor"),
               Figure(1979, "TOPS", "V", "NVIDIA H100 datasheet: SXM, INT8 tensor, dense", "int8"),
               Figure(67, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM", "fp32"),
               Figure(34, "TFLOP/s", "V", "NVIDIA H100 datasheet: SXM", "fp64"))),
    DeviceSpec(
        "h200", "NVIDIA H200", r"\bH200\b", "9.0", 132,
        Figure(4800, "GB/s", "V", "NVIDIA H200 datasheet: HBM3e, 141 GB"),
        l2_bytes=50 * 2**20,
        peaks=(Figure(989, "TFLOP/s", "V", "NVIDIA H200 datasheet: SXM, FP16/BF16 1979 with sparsity, 989 dense",
                      "f16"),
               Figure(989, "TFLOP/s", "V", "NVIDIA H200 datasheet: SXM, FP16/BF16 1979 with sparsity, 989 dense",
                      "bf16"),
               Figure(1979, "TFLOP/s", "V", "NVIDIA H200 datasheet: SXM, FP8 3958 with sparsity, 1979 dense", "fp8"),
               Figure(67, "TFLOP/s", "V", "NVIDIA H200 datasheet: SXM", "fp64_tensor"),
               Figure(67, "TFLOP/s", "V", "NVIDIA H200 datasheet: SXM", "fp32"))),
    DeviceSpec(
        "b200", "NVIDIA B200", r"\bB200\b", "10.0", 148,
        Figure(7700, "GB/s", "V", "NVIDIA HGX B200 specification, per GPU: HBM3e, 180 GB, 7.7 TB/s (earlier "
               "versions of the page: 192 GB, 8 TB/s)"),
        l2_bytes=None, notes="1000 W per GPU in HGX B200",
        peaks=(Figure(9000, "TFLOP/s", "V", _B200 + "FP4 tensor 18 PFLOPS with sparsity, 9 dense", "fp4"),
               Figure(4500, "TFLOP/s", "V", _B200 + "FP8/FP6 tensor 9 PFLOPS with sparsity, 4.5 dense", "fp8"),
               Figure(2250, "TFLOP/s", "V", _B200 + "FP16/BF16 tensor 4.5 PFLOPS with sparsity, 2.25 dense", "f16"),
               Figure(2250, "TFLOP/s", "V", _B200 + "FP16/BF16 tensor 4.5 PFLOPS with sparsity, 2.25 dense", "bf16"),
               Figure(1100, "TFLOP/s", "V", _B200 + "TF32 tensor 2.2 PFLOPS with sparsity, 1.1 dense", "tf32"),
               Figure(37, "TFLOP/s", "V", _B200 + "FP64 and FP64 tensor 37 TFLOPS", "fp64_tensor"),
               Figure(75, "TFLOP/s", "V", _B200 + "FP32 75 TFLOPS", "fp32"))),
    DeviceSpec(
        "rtx-pro-6000", "NVIDIA RTX PRO 6000 Blackwell", r"RTX PRO 6000 Blackwell", "12.0", 188,
        Figure(1792, "GB/s", "V", "NVIDIA RTX PRO 6000 Blackwell specification: 96 GB GDDR7, 512-bit"),
        notes="Workstation Edition 600 W; 24,064 CUDA cores, 752 tensor cores", rate_table="12.0-pro",
        peaks=(Figure(2000, "TFLOP/s", "V", "NVIDIA RTX PRO 6000 Blackwell specification: 4000 AI TOPS (FP4 with "
                      "sparsity), 2000 dense", "fp4"),
               Figure(125, "TFLOP/s", "V", "NVIDIA RTX PRO 6000 Blackwell specification: FP32 125 TFLOPS", "fp32"))),
    # The binned M4 Max (32-core GPU) has less bandwidth; its row comes first, matched by the
    # core count the mlx backend puts in the name (Apple's chip name alone is the same).
    DeviceSpec(
        "m4max-32c", "Apple M4 Max (32-core GPU)", r"M4 Max.*\b32-core", None, None,
        Figure(410, "GB/s", "V", "Apple MacBook Pro (M4 Max, 14-core CPU, 32-core GPU) specification"),
        unified_memory=True, notes="no CUDA; the mlx backend; no tensor cores; the binned M4 Max"),
    DeviceSpec(
        "m4max", "Apple M4 Max (40-core GPU)", r"M4 Max", None, None,
        Figure(546, "GB/s", "V", "Apple MacBook Pro (M4 Max, 16-core CPU, 40-core GPU) specification"),
        (Figure(396, "GB/s", "M", "PyTorch MPS copy (chsasank/device-benchmarks)", "copy"),),
        unified_memory=True, notes="no CUDA; the mlx backend; no tensor cores",
        peaks=(Figure(13.8, "TFLOP/s", "M", "about 13.8 TFLOP/s FP32 via MPS (chsasank/device-benchmarks)", "fp32"),
               Figure(14.8, "TFLOP/s", "M", "about 14.8 TFLOP/s FP16 via MPS (chsasank/device-benchmarks)", "fp16"))),
    DeviceSpec(
        "m3ultra-60c", "Apple M3 Ultra (60-core GPU)", r"M3 Ultra.*\b60-core", None, None,
        Figure(819.2, "GB/s", "V", "Apple M3 Ultra specification (both GPU configurations)"),
        unified_memory=True, notes="no CUDA; the mlx backend; the binned M3 Ultra",
        peaks=(_apple_fp32(60),)),
    DeviceSpec(
        "m3ultra", "Apple M3 Ultra", r"M3 Ultra", None, None,
        Figure(819.2, "GB/s", "V", "Apple M3 Ultra specification"),
        unified_memory=True, notes="no CUDA; the mlx backend",
        peaks=(_apple_fp32(80),)),
)

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


# ---------------------------------------------------------------- host memory, seen from the GPU

# PCIe per lane and direction, GB/s: transfer rate x encoding (8b/10b to Gen2, 128b/130b
# Gen3-5, 242/256 FLIT for Gen6), PCI-SIG base specifications. Achievable throughput is
# lower (packet headers): a family judges it in the band it holds DRAM to.
PCIE_LANE_GBPS = {1: 2.5 * 8 / 10 / 8, 2: 5.0 * 8 / 10 / 8, 3: 8.0 * 128 / 130 / 8, 4: 16.0 * 128 / 130 / 8,
                  5: 32.0 * 128 / 130 / 8, 6: 64.0 * 242 / 256 / 8}


def pcie_link(generation: int | None, width: int | None) -> Figure | None:
    """The per-direction bandwidth of a PCIe link as NVML reports it (the most this device and
    system allow, not the current link, which idles at Gen1)."""
    if generation not in PCIE_LANE_GBPS or not width:
        return None
    value = PCIE_LANE_GBPS[generation] * width
    return Figure(round(value, 1), "GB/s", "D", f"PCIe Gen{generation} x{width} per direction, as NVML reports the "
                  f"link (the most this device and system allow): {PCIE_LANE_GBPS[generation]:.3g} GB/s per lane")


def unified(info: dict, spec: DeviceSpec | None) -> bool:
    """Whether the GPU's memory is the host's DRAM: the driver says so (integrated), or the
    device table does (a GB10 row says unified memory even where the driver's flag is not set)."""
    return bool(info.get("unified_memory") or info.get("integrated") or (spec is not None and spec.unified_memory))


def host_memory_link(info: dict, spec: DeviceSpec | None, dram: Figure | None) -> tuple[Figure | None, str]:
    """(what a kernel reading and writing host memory is held to, why). On a unified-memory
    device host memory is the GPU's own DRAM; on a discrete one the PCIe link NVML reports.
    Without either: no expectation, and why."""
    if unified(info, spec):
        return dram, "unified memory: host memory is the GPU's own DRAM"
    link = info.get("host_link") or {}
    figure = pcie_link(link.get("generation"), link.get("width"))
    if figure is None:
        return None, f"no host link known ({link.get('why') or 'NVML did not report the PCIe link'})"
    return figure, "host memory over the PCIe link"


def over_link(link: Figure, read_bytes: int, written_bytes: int) -> Figure:
    """What a full-duplex link allows a kernel that reads and writes these bytes: each direction
    carries its own, so the figure (read + written over the time) can reach the per-direction
    rate x (read + written) / the larger of the two: 2x for a copy, 1.5x for a triad, 1x for
    read-only or write-only kernels."""
    factor = (read_bytes + written_bytes) / max(read_bytes, written_bytes, 1)
    return Figure(round(link.value * factor, 1), link.unit, "D",
                  f"{link.source}; x {factor:g}: reads and writes use both directions at once", link.what)


# ---------------------------------------------------------------- compute peaks

@dataclass(frozen=True)
class Rate:
    """Dense operations per clock per SM (an FMA counts 2) for one architecture and format."""

    per_sm_per_clock: float
    kind: str  # "V" stated by the vendor per SM, "D" derived from a vendor peak, its SMs and its clock
    source: str
    # The instruction that reaches the rate. Hopper's tensor figures are wgmma's: the
    # mma.sync loops are not expected to reach them, and the verdict says so.
    path: str = "mma.sync"
    # Not stated for this GPU but carried over from another (GB10 from the GeForce sm_12x SM):
    # a verdict against it says so.
    assumed: bool = False


def _derived(peak_t: float, sms: int, clock_mhz: float, what: str) -> str:
    return f"{what}: {peak_t:g} T / ({sms} SMs x {clock_mhz:g} MHz)"


_A100 = "A100 whitepaper (108 SMs, 1410 MHz)"
_H100 = "H100 SXM5 datasheet"
_RTX_BW = "RTX Blackwell architecture whitepaper, per SM per clock"
_BPG = "CUDA C++ Best Practices Guide, throughput of native arithmetic instructions"
# The GB10's SM is an sm_12x SM; NVIDIA publishes per-SM rates only for the GeForce
# parts. Whether the GB10 follows them (FP32 accumulate at half rate) is what the
# peak family measures, so its expectation says where it came from.
_GB10_ASSUMED = " (assumed for GB10: same sm_12x SM)"


def _rtx_blackwell(note: str = "", assumed: bool = False) -> dict[str, Rate]:
    def rate(per_clock: float, kind: str, source: str) -> Rate:
        return Rate(per_clock, kind, source + note, assumed=assumed)

    return {
        "f16_f16acc": rate(1024, "V", _RTX_BW),
        "f16_f32acc": rate(512, "V", _RTX_BW + ": FP32 accumulate at half rate"),
        "bf16_f32acc": rate(512, "V", _RTX_BW + ": FP32 accumulate at half rate"),
        "tf32": rate(256, "V", _RTX_BW),
        "fp8_f16acc": rate(2048, "V", _RTX_BW),
        "fp8_f32acc": rate(1024, "D", _derived(419, 170, 2407, "RTX 5090 FP8 with FP32 accumulate")),
        # FP6/FP4 through kind::f8f6f4 run at the FP8 rate; these loops accumulate in FP32.
        "f8f6f4_f32acc": rate(1024, "D", "FP6/FP4 via kind::f8f6f4 run at the FP8 rate (" + _RTX_BW
                              + "), here the FP8-with-FP32-accumulate rate"),
        "fp4_block_scaled": rate(4096, "V", _RTX_BW + ": FP4 block-scaled (kind::mxf4 / mxf4nvf4)"),
        "fp32": rate(256, "V", _BPG + ": 128 FP32 FMA per clock (cc 12.x)"),
        "fp16x2": rate(256, "V", _BPG + ": 64 half2 FMA per clock (cc 12.x)"),
        "fp64": rate(4, "V", _BPG + ": 2 FP64 FMA per clock (cc 12.x)"),
        "int32": rate(128, "V", _BPG + ": 64 32-bit integer multiply-add per clock (cc 12.x)"),
    }


# Compute capability -> rate key -> Rate. Only rates with a source are here; a format
# without one gets "no expectation", not a guess.
SM_RATES: dict[str, dict[str, Rate]] = {
    "8.0": {
        "f16_f16acc": Rate(2048, "V", _A100 + ": 256 FP16 FMA per tensor core per clock, 4 per SM"),
        "f16_f32acc": Rate(2048, "V", _A100 + ": 256 FP16 FMA per tensor core per clock, 4 per SM"),
        "bf16_f32acc": Rate(2048, "D", _derived(312, 108, 1410, "A100 BF16 tensor")),
        "tf32": Rate(1024, "D", _derived(156, 108, 1410, "A100 TF32 tensor")),
        "int8": Rate(4096, "D", _derived(624, 108, 1410, "A100 INT8 tensor")),
        "int4": Rate(8192, "D", _derived(1248, 108, 1410, "A100 INT4 tensor")),
        "fp64_tensor": Rate(128, "D", _derived(19.5, 108, 1410, "A100 FP64 tensor")),
        "fp32": Rate(128, "D", _derived(19.5, 108, 1410, "A100 FP32")),
        "fp64": Rate(64, "D", _derived(9.7, 108, 1410, "A100 FP64")),
    },
    "9.0": {
        # The datasheet's tensor figures assume a 1830 MHz tensor clock (132 x 4096 x 1.83 GHz
        # = 989 T); its FP32/FP64 figures the 1980 MHz boost. These are wgmma rates: mma.sync,
        # the Ampere-style instruction these loops use, is not Hopper's full-rate path.
        "f16_f16acc": Rate(4096, "D", _derived(989, 132, 1830, _H100 + " FP16 tensor (wgmma rate)"), "wgmma"),
        "f16_f32acc": Rate(4096, "D", _derived(989, 132, 1830, _H100 + " FP16 tensor (wgmma rate)"), "wgmma"),
        "bf16_f32acc": Rate(4096, "D", _derived(989, 132, 1830, _H100 + " BF16 tensor (wgmma rate)"), "wgmma"),
        "tf32": Rate(2048, "D", _derived(495, 132, 1830, _H100 + " TF32 tensor (wgmma rate)"), "wgmma"),
        "int8": Rate(8192, "D", _derived(1979, 132, 1830, _H100 + " INT8 tensor (wgmma rate)"), "wgmma"),
        "fp8_f16acc": Rate(8192, "D", _derived(1979, 132, 1830, _H100 + " FP8 tensor (wgmma rate)"), "wgmma"),
        "fp8_f32acc": Rate(8192, "D", _derived(1979, 132, 1830, _H100 + " FP8 tensor (wgmma rate)"), "wgmma"),
        "fp64_tensor": Rate(256, "D", _derived(67, 132, 1980, _H100 + " FP64 tensor")),
        "fp32": Rate(256, "D", _derived(67, 132, 1980, _H100 + " FP32")),
        "fp64": Rate(128, "D", _derived(34, 132, 1980, _H100 + " FP64")),
        "int32": Rate(128, "V", _BPG + ": 64 32-bit integer multiply-add per clock (cc 9.0)"),
    },
    "12.0": _rtx_blackwell(),
    "12.1": _rtx_blackwell(_GB10_ASSUMED, assumed=True),
    # The professional sm_120 part: NVIDIA gives no per-SM figures, and professional parts have
    # not had the GeForce half-rate FP32 accumulate, so only the rates that do not depend on
    # it are kept.
    "12.0-pro": {k: v for k, v in _rtx_blackwell(" (GeForce figure; the accumulate-independent rates "
                                                 "are assumed for the professional part)", assumed=True).items()
                 if k not in ("f16_f32acc", "bf16_f32acc", "fp8_f32acc", "f8f6f4_f32acc", "tf32")},
}

def sm_rate(compute_capability: str | None, rate_key: str, spec: DeviceSpec | None = None) -> Rate | None:
    """The rate for a format: from the device row's own table where it has one, else the
    compute capability's."""
    table = spec.rate_table if spec is not None and spec.rate_table else compute_capability or ""
    return SM_RATES.get(table, {}).get(rate_key)


def clock_peak(rate: Rate, sm_count: int, clock_mhz: float) -> float:
    """Tera-operations per second that rate x SMs x clock allows."""
    return rate.per_sm_per_clock * sm_count * clock_mhz * 1e6 / 1e12


def spec_peak(spec: DeviceSpec | None, keys: tuple[str, ...]) -> Figure | None:
    """The vendor's dense figure for the first of `keys` the row has (a published
    measurement, kind M, is never the spec)."""
    if spec is None:
        return None
    for key in keys:
        for figure in spec.peaks:
            if figure.what == key and figure.kind in ("V", "D"):
                return figure
    return None
