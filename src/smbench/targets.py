"""The CUDA targets smbench knows, and what each one can compile: the one place for these facts.

Every fact here was checked with NVRTC 13.5 and cuobjdump on a machine with no GPU
(tests/test_kernel_guards.py re-checks them against the compiler on every run):

* mma.sync f16/bf16/tf32/s8/f64 compile on every target from sm_80 on (HMMA/IMMA/DMMA).
* s4/u4 mma.sync is IMMA.16864.S4 on sm_80/86/89; from sm_90 on ptxas widens it to s8 IMMA.
* FP8 mma.sync in the sm_89 form (no `kind`) is QMMA on sm_89 and sm_12x, but on
  sm_90 and sm_100 it compiles to HMMA: FP8 emulated through FP16.
* `kind::f8f6f4` is rejected on plain sm_120/sm_121; it is QMMA on their "a" and "f"
  targets. With FP8 operands it also compiles on sm_100a/sm_100f (to HMMA, emulated);
  FP6/FP4 operands are rejected there.
* The block-scaled kinds (mxf8f6f4, mxf4, mxf4nvf4) are OMMA/QMMA on sm_12x "a"/"f" only.
* wgmma exists only on sm_90a; tcgen05 only on the sm_100 family's "a"/"f" targets.

Support levels: NATIVE (the instruction runs on its own unit), EMULATED (compiles,
but to a slower instruction of another class), and absent (rejected by ptxas).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from smbench.errors import SmbenchError

# Compute capabilities of shipping GPUs, for "which GPUs run this cubin" and the GPUs
# `smbench scan --gpu` accepts (Volta's 7.0 and Turing's 7.5: libraries still carry their code).
KNOWN_COMPUTE_CAPABILITIES = ((7, 0), (7, 5), (8, 0), (8, 6), (8, 7), (8, 9), (9, 0), (10, 0), (10, 3), (11, 0),
                              (12, 0), (12, 1))

NATIVE = "native"
EMULATED = "emulated"

# Feature keys, with what a person reads for each.
FEATURES: dict[str, str] = {
    "mma.f16": "mma.sync f16 inputs, f16 or f32 accumulate (HMMA)",
    "mma.bf16": "mma.sync bf16 inputs, f32 accumulate (HMMA)",
    "mma.tf32": "mma.sync tf32 inputs, f32 accumulate (HMMA)",
    "mma.s8": "mma.sync s8/u8 inputs, s32 accumulate (IMMA)",
    "mma.s4": "mma.sync s4/u4 inputs, s32 accumulate (IMMA; INT4 tensor cores up to sm_89)",
    "mma.f64": "mma.sync f64 (DMMA): FP64 on the tensor cores",
    "mma.fp8": "mma.sync e4m3/e5m2 in the sm_89 form, no kind (QMMA)",
    "mma.f8f6f4.fp8": "mma.sync kind::f8f6f4 with e4m3/e5m2 operands",
    "mma.f8f6f4.fp6fp4": "mma.sync kind::f8f6f4 with e3m2/e2m3/e2m1 operands",
    "mma.block_scale": "mma.sync kind::mxf8f6f4 / mxf4 / mxf4nvf4 with block scales (NVFP4, MXFP4)",
    "wgmma": "wgmma.mma_async, warpgroup MMA (HGMMA)",
    "tcgen05": "tcgen05.mma, tensor-memory MMA (UTC*MMA)",
    "ldmatrix": "ldmatrix shared-memory fragment loads (LDSM)",
    "cp.async": "cp.async global-to-shared copies (LDGSTS)",
    "cp.async.bulk": "cp.async.bulk / TMA bulk tensor copies (UBLKCP / UTMALDG)",
}

# Shared memory one block may opt in to, per compute capability (CUDA C++ Programming
# Guide, "Technical Specifications per Compute Capability": 163 KB on 8.0, 99 KB on 8.6
# and 8.9, 227 KB on 9.0 and 10.0, 99 KB on 12.x; the DGX Spark's sm_121 is 12.x).
SHARED_PER_BLOCK: dict[tuple[int, int], int] = {
    (8, 0): 163 * 1024, (8, 6): 99 * 1024, (8, 9): 99 * 1024, (9, 0): 227 * 1024, (10, 0): 227 * 1024,
    (12, 0): 99 * 1024, (12, 1): 99 * 1024,
}

_SM80_MMA = {k: NATIVE for k in ("mma.f16", "mma.bf16", "mma.tf32", "mma.s8", "mma.s4", "mma.f64")}
_SM80_MEMORY = {"ldmatrix": NATIVE, "cp.async": NATIVE}


# NVIDIA's compatibility rules, for machine code and PTX of any compute capability (the
# table's targets and whatever sm_XY a binary carries). Sources: CUDA C++ Programming
# Guide, "Binary Compatibility" and "PTX Compatibility"; nvcc documentation, "GPU Feature
# List" (arch-specific "a" and family-specific "f" features); NVIDIA technical blog, "NVIDIA
# Blackwell and NVIDIA CUDA 12.9 Introduce Family-Specific Architecture Features" (2025).
# A code is (major, minor, suffix); a GPU is (major, minor).

def sass_runs_on(code: tuple[int, int, str], gpu: tuple[int, int]) -> bool:
    """Whether a GPU runs machine code (SASS) built for `code`: the same major version with a
    minor at least the code's for a portable or family ("f") cubin (sm_120 and sm_120f run on
    12.0 and 12.1), exactly that compute capability for an arch-specific ("a") one."""
    major, minor, suffix = code
    if suffix == "a":
        return gpu == (major, minor)
    return gpu[0] == major and gpu[1] >= minor


def ptx_jits_on(code: tuple[int, int, str], gpu: tuple[int, int]) -> bool:
    """Whether the driver JIT-compiles PTX built for `code` on a GPU: any GPU of compute
    capability at least the PTX's for portable PTX (compute_80 on 9.0 and 12.1); only the
    family for "f" PTX (compute_120f on 12.0 and 12.1); only that one for "a" PTX."""
    major, minor, suffix = code
    if suffix == "a":
        return gpu == (major, minor)
    if suffix == "f":
        return gpu[0] == major and gpu[1] >= minor
    return gpu >= (major, minor)


@dataclass(frozen=True)
class Target:
    """One NVRTC target: `name` is its real-architecture form (sm_121a)."""

    name: str
    major: int
    minor: int
    suffix: str  # "" (portable), "a" (architecture-specific) or "f" (family-specific)
    architecture: str
    devices: str
    min_nvrtc: tuple[int, int]
    features: dict[str, str] = field(default_factory=dict)

    @property
    def shared_per_block(self) -> int:
        """The most shared memory one block may use (bytes, opted in with
        cudaFuncAttributeMaxDynamicSharedMemorySize): what a kernel's tiles must fit."""
        return SHARED_PER_BLOCK[(self.major, self.minor)]

    @property
    def number(self) -> int:
        """The number NVRTC uses in -arch (121 for sm_121a)."""
        return self.major * 10 + self.minor

    @property
    def compute_capability(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def family(self) -> str:
        """The family an "f" target builds for, and that shares its portable machine code."""
        return f"sm_{self.major}x"

    @property
    def runs_on(self) -> list[str]:
        """Compute capabilities whose GPUs run this target's cubin (see sass_runs_on)."""
        return [f"{major}.{minor}" for major, minor in KNOWN_COMPUTE_CAPABILITIES
                if sass_runs_on((self.major, self.minor, self.suffix), (major, minor))]

    @property
    def virtual(self) -> str:
        """The PTX (virtual architecture) form: compute_121a."""
        return "compute_" + self.name[3:]

    @property
    def portable_real(self) -> str:
        """What the driver JIT-compiles PTX to on a device of this target: sm_121 for sm_121a."""
        return f"sm_{self.number}"

    def support(self, feature: str) -> str | None:
        if feature not in FEATURES:
            raise KeyError(f"unknown feature {feature!r}")
        return self.features.get(feature)

    def has(self, feature: str) -> bool:
        return self.support(feature) is not None


# From sm_90 on, s4/u4 mma compiles to s8 IMMA: no INT4 tensor cores.
_HOPPER = {"mma.fp8": EMULATED, "mma.s4": EMULATED, "cp.async.bulk": NATIVE}
_BLACKWELL_DC = {"mma.fp8": EMULATED, "mma.s4": EMULATED, "cp.async.bulk": NATIVE}
_BLACKWELL_DC_SPECIFIC = {**_BLACKWELL_DC, "mma.f8f6f4.fp8": EMULATED, "tcgen05": NATIVE}
_BLACKWELL_RTX = {"mma.fp8": NATIVE, "mma.s4": EMULATED, "cp.async.bulk": NATIVE}
_BLACKWELL_RTX_SPECIFIC = {**_BLACKWELL_RTX, "mma.f8f6f4.fp8": NATIVE, "mma.f8f6f4.fp6fp4": NATIVE,
                           "mma.block_scale": NATIVE}


def _make(name: str, architecture: str, devices: str, min_nvrtc: tuple[int, int],
          features: dict[str, str] | None = None) -> Target:
    match = re.fullmatch(r"sm_(\d+)(\d)([af]?)", name)
    assert match, name
    return Target(name, int(match.group(1)), int(match.group(2)), match.group(3), architecture, devices,
                  min_nvrtc, {**_SM80_MMA, **_SM80_MEMORY, **(features or {})})


_TABLE: tuple[Target, ...] = (
    _make("sm_80", "Ampere", "A100, A30", (11, 0)),
    _make("sm_86", "Ampere", "RTX 30xx, A40, A10", (11, 1)),
    _make("sm_89", "Ada Lovelace", "RTX 40xx, L4, L40", (11, 8), {"mma.fp8": NATIVE}),
    _make("sm_90", "Hopper", "H100, H200, GH200", (11, 8), _HOPPER),
    _make("sm_90a", "Hopper", "H100, H200, GH200 (arch-specific: wgmma)", (12, 0),
          {**_HOPPER, "wgmma": NATIVE}),
    _make("sm_100", "Blackwell (data centre)", "B200, GB200", (12, 8), _BLACKWELL_DC),
    _make("sm_100a", "Blackwell (data centre)", "B200, GB200 (arch-specific: tcgen05)", (12, 8),
          _BLACKWELL_DC_SPECIFIC),
    _make("sm_100f", "Blackwell (data centre)", "sm_100 family: B200, GB200, B300", (12, 9),
          _BLACKWELL_DC_SPECIFIC),
    _make("sm_120", "Blackwell (RTX)", "RTX 50xx, RTX PRO 6000 Blackwell", (12, 8), _BLACKWELL_RTX),
    _make("sm_120a", "Blackwell (RTX)", "RTX 50xx, RTX PRO 6000 (arch-specific)", (12, 8),
          _BLACKWELL_RTX_SPECIFIC),
    _make("sm_120f", "Blackwell (RTX)", "sm_120 family: RTX 50xx and GB10", (12, 9), _BLACKWELL_RTX_SPECIFIC),
    _make("sm_121", "Blackwell (GB10)", "DGX Spark / GB10", (12, 9), _BLACKWELL_RTX),
    _make("sm_121a", "Blackwell (GB10)", "DGX Spark / GB10 (arch-specific)", (12, 9), _BLACKWELL_RTX_SPECIFIC),
    _make("sm_121f", "Blackwell (GB10)", "sm_121 family: DGX Spark / GB10", (12, 9), _BLACKWELL_RTX_SPECIFIC),
)

TARGETS: dict[str, Target] = {t.name: t for t in _TABLE}

# The PTX every "runs anywhere from Ampere on" build ships: what the driver JIT-compiles
# on a GPU when a program carries no machine code for it.
FALLBACK_PTX_TARGET = "sm_80"


def all_targets() -> list[Target]:
    return list(_TABLE)


def get(name: str) -> Target:
    """Look a target up by sm_XX[a|f] (or compute_XX[a|f]); unknown names are a clear error."""
    key = name.strip().lower()
    if key.startswith("compute_"):
        key = "sm_" + key[len("compute_"):]
    try:
        return TARGETS[key]
    except KeyError:
        raise SmbenchError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None


def parse_arch(arch: str) -> tuple[Target, bool]:
    """'sm_121a' -> (target, False); 'compute_121a' -> (target, True): True means PTX only."""
    return get(arch), arch.strip().lower().startswith("compute_")


def parse_list(text: str, real_only: bool = False) -> list[Target]:
    """A comma-separated list of targets; 'all' means the whole table. With real_only,
    a PTX-only spelling (compute_121a) is refused rather than quietly read as sm_121a."""
    names = [part for part in (p.strip() for p in text.split(",")) if part]
    if real_only:
        for name in names:
            if name.lower().startswith("compute_"):
                raise SmbenchError(f"{name} is a PTX-only target; name the real one (sm_{name[8:]})")
    if not names:
        raise SmbenchError("no target given")
    if names == ["all"]:
        return all_targets()
    seen: dict[str, Target] = {}
    for name in names:
        target = get(name)
        seen.setdefault(target.name, target)
    return list(seen.values())

# The preprocessor guards of kernels/smbench_arch.cuh, each with the feature it stands
# for: a guarded kernel must compile to its tensor instruction exactly where the
# target has that feature (tests/test_kernel_guards.py checks it on every target).
GUARD_FEATURES: dict[str, str] = {
    "SMBENCH_HAS_MMA_SM80": "mma.f16",  # f16, bf16, tf32 and s8 mma: all from sm_80 on
    "SMBENCH_HAS_MMA_INT4": "mma.s4",
    "SMBENCH_HAS_MMA_F64": "mma.f64",
    "SMBENCH_HAS_MMA_FP8_SM89": "mma.fp8",
    "SMBENCH_HAS_MMA_F8F6F4_FP8": "mma.f8f6f4.fp8",
    "SMBENCH_HAS_MMA_F8F6F4_FP6FP4": "mma.f8f6f4.fp6fp4",
    "SMBENCH_HAS_MMA_BLOCK_SCALE": "mma.block_scale",
}


def native_targets(major: int, minor: int) -> list[Target]:
    """The table's targets whose machine code runs on a GPU of this compute capability."""
    return [t for t in _TABLE if (t.major, t.minor) == (major, minor)]


def best_native(major: int, minor: int) -> Target:
    """The target that unlocks everything a GPU of this compute capability has: the
    architecture-specific ("a") one where it exists (sm_121a on a DGX Spark)."""
    candidates = native_targets(major, minor)
    if not candidates:
        raise SmbenchError(f"compute capability {major}.{minor} has no target in smbench's table "
                           f"(known: {', '.join(TARGETS)})")
    return next((t for t in candidates if t.suffix == "a"), candidates[0])
