"""The published models of NVIDIA tensor cores, with their sources: the one place these
facts live (emulate.published_model and the numerics family read them here).

Sources:
- Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA tensor cores", PeerJ
  Computer Science 7:e330 (2021): V100, T4, A100 fp16; truncation, no rounding of the fused
  sum's terms, normalisation once per block (their "3 extra bits" are carry-out bits).
- Khattak and Mikaitis, "Accurate models of NVIDIA tensor cores", arXiv 2512.07004 (2025),
  and their MATLAB models (github north-numerical-computing/MATLAB-tensor-core): bit-accurate
  against V100, A100, A2, A30, Ada RTX 1000, L40S, H100, H200 and B200 on 10^5 random
  inputs; the parameters below (neab, the block, the FP8 block-result width, the anchor floor
  min_exp_limit) are theirs.
The project's facts (../shared/facts.md, "Tensor-core numerics") tabulate the same.

Not published: B200 FP8 (the paper's own model does not reproduce its data), FP8 with fp16
output, FP6, FP4, the block-scaled kinds, any sm_120/sm_121 GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from smbench.emulate import Model
from smbench.errors import SmbenchError

FASI = "Fasi, Higham, Mikaitis & Pranesh 2021 (PeerJ CS 7:e330)"
KHATTAK = "Khattak & Mikaitis 2025 (arXiv 2512.07004)"
SHORT = {FASI: "Fasi et al. 2021", KHATTAK: "Khattak & Mikaitis 2025"}


@dataclass(frozen=True)
class Published:
    gpu: str  # the model's name: V100, A100, Ada, H100, B200
    input_format: str
    accumulator: str
    model: Model
    sources: tuple[str, ...]
    note: str = ""

    @property
    def cite(self) -> str:
        """'H100 (Khattak & Mikaitis 2025)': the short form a table shows."""
        return f"{self.gpu} ({'; '.join(SHORT[s] for s in self.sources)})"


def _family(gpu: str, neab: int, blocks: dict, floor32: int | None, floor16: int | None, sources: tuple,
            fp8: tuple | None = None) -> list[Published]:
    """One GPU's models: blocks per input format; fp32 output toward zero, fp16 output (fp16
    inputs only) to nearest even; fp8 = (block, floor, note) where published."""
    found = []
    for name, block in blocks.items():
        found.append(Published(gpu, name, "f32", Model(neab=neab, block=block, anchor_floor=floor32), sources))
        if name == "f16":
            found.append(Published(gpu, name, "f16", Model(neab=neab, block=block, output_rounding="rne",
                                                           anchor_floor=floor16), sources))
    if fp8:
        block, floor, note = fp8
        for name in ("e4m3", "e5m2"):
            found.append(Published(gpu, name, "f32", Model(neab=-10, block=block, block_bits=14, anchor_floor=floor),
                                   (KHATTAK,), note))
    return found


AMPERE_BLOCKS = {"f16": 8, "bf16": 8, "tf32": 4}
HOPPER_BLOCKS = {"f16": 16, "bf16": 16, "tf32": 8}
MODELS: tuple[Published, ...] = tuple(
    _family("V100", 0, {"f16": 4}, None, -19, (FASI, KHATTAK))
    + _family("A100", 1, AMPERE_BLOCKS, -132, -20, (FASI, KHATTAK))
    + _family("Ada", 1, AMPERE_BLOCKS, -132, -20, (KHATTAK,), fp8=(16, -132, "mma.sync, Ada RTX 1000 and L40S"))
    + _family("H100", 2, HOPPER_BLOCKS, -133, -21, (KHATTAK,), fp8=(32, -133, "wgmma with c = 0"))
    + _family("B200", 2, HOPPER_BLOCKS, -133, -21, (KHATTAK,))
)

# Other names of the same tensor cores (the papers measured these and found the same model).
ALIASES = {"A2": "A100", "A30": "A100", "L40S": "Ada", "RTX 40": "Ada", "RTX40": "Ada", "ADA": "Ada",
           "H200": "H100"}
GPUS = tuple(dict.fromkeys(p.gpu for p in MODELS))

# What ptxas builds for the sm_89-form FP8 mma.sync on sm_90 (the SASS, NVRTC 13.5; see
# smbench.emulate): two HMMAs as H100's fp16 model from a zero accumulator, products dealt in
# runs of 2, then c added with one IEEE add. Derived from the H100 fp16 model, not measured.
SM90_FP8_NOTE = "mma.sync FP8 built by ptxas from two fp16 HMMAs and an IEEE add of c (SASS, NVRTC 13.5)"


def sm90_fp8_mma(accumulator: str) -> Model:
    hmma = lookup("H100", "f16", accumulator).model
    return hmma.with_(c_entry="after", interleave=2)


def canonical(gpu: str) -> str:
    key = gpu.strip()
    for name in GPUS:
        if key.upper() == name.upper():
            return name
    if key.upper() in ALIASES:
        return ALIASES[key.upper()]
    raise SmbenchError(f"no published tensor-core model for GPU {gpu!r}: known are "
                       f"{', '.join(GPUS)} (and {', '.join(sorted(ALIASES))})")


def lookup(gpu: str, input_format: str, accumulator: str = "f32") -> Published:
    name = canonical(gpu)
    for entry in MODELS:
        if (entry.gpu, entry.input_format, entry.accumulator) == (name, input_format, accumulator):
            return entry
    have = ", ".join(f"{p.input_format}->{p.accumulator}" for p in MODELS if p.gpu == name)
    raise SmbenchError(f"no published {name} tensor-core model for {input_format} -> {accumulator} "
                       f"(published: {have})")


def for_format(input_format: str, accumulator: str) -> list[Published]:
    """Every published model of this input and accumulator format, and the derived sm_90
    mma.sync FP8 one, which the fit is compared with."""
    found = [p for p in MODELS if (p.input_format, p.accumulator) == (input_format, accumulator)]
    if input_format in ("e4m3", "e5m2"):
        found.append(Published("H100 emu", input_format, accumulator, sm90_fp8_mma(accumulator), (KHATTAK,),
                               SM90_FP8_NOTE))
    return found


def model_of(name: str, input_format: str, accumulator: str) -> Model:
    """A model for_format lists, by its name (the derived sm_90 one included)."""
    return next(p.model for p in for_format(input_format, accumulator) if p.gpu == name)


def stand_in(gpu: str, input_format: str, accumulator: str) -> tuple[Model, str]:
    """The model the CPU path plays for a GPU and format, and what it is: the published one,
    or, where none is, the nearest (said so): the GPU's FP8 model (else H100's) for formats
    of 8 bits or fewer, to nearest even into fp16; its fp16 model for 16- and 19-bit ones."""
    name = canonical(gpu)
    try:
        entry = lookup(name, input_format, accumulator)
        return entry.model, f"published: {entry.cite}"
    except SmbenchError:
        pass
    narrow = input_format not in ("f16", "bf16", "tf32")
    base_format = "e4m3" if narrow else "f16"
    owner = name if any((p.gpu, p.input_format) == (name, base_format) for p in MODELS) else "H100"
    base = lookup(owner, base_format, "f32" if narrow else accumulator)
    # Into fp16, to nearest even as every published fp16 output; no 14-bit narrowing before it,
    # which no paper reports and which would round twice.
    model = base.model.with_(output_rounding="rne", block_bits=None) if accumulator == "f16" else base.model
    return model, (f"no published {name} model for {input_format} -> {accumulator}: {owner}'s "
                   f"{base_format} model stands in ({base.cite})")
