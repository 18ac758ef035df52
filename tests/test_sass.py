from collections import Counter

import pytest

from smbench import sass
from smbench.cache import Cache
from smbench.compile import compile_file
from smbench import targets as target_table
from smbench.errors import SmbenchError

from conftest import KERNELS

CUOBJDUMP_TEXT = """
Resource usage:
 Common:
  GLOBAL:0
 Function kern_a:
  REG:40 STACK:16 SHARED:4096 LOCAL:24 CONSTANT[0]:904 TEXTURE:0 SURFACE:0 SAMPLER:0
 Function kern_b:
  REG:8 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:900 TEXTURE:0 SURFACE:0 SAMPLER:0

\tcode for sm_121a
\t.target\tsm_121a

\t\tFunction : kern_a
\t.headerflags\t@"EF_CUDA_ACCELERATORS EF_CUDA_SM121 EF_CUDA_VIRTUAL_SM(EF_CUDA_SM121)"
        /*0000*/                   LDC R1, c[0x0][0x37c] ;                      /* 0x0000df00ff017b82 */
                                                                                /* 0x000fe20000000800 */
        /*0010*/                   LDG.E.128.CONSTANT R4, desc[UR4][R2.64] ;    /* 0x0000000402047981 */
        /*0020*/                   HMMA.16816.F32.BF16 R8, R4, R2, R8 ;         /* 0x000000020408723c */
        /*0030*/                   HMMA.16816.F32.BF16 R12, R4, R2, R12 ;       /* 0x000000020408723c */
        /*0040*/               @P0 STL.64 [R1], R8 ;                             /* 0x0000000801007387 */
        /*0050*/              @!P1 LDL R9, [R1+0x8] ;                            /* 0x0000080001097983 */
        /*0060*/                   DMMA.8x8x4 R16, R18, R20, R16 ;              /* 0x000000020408723c */
        /*0070*/                   EXIT ;                                       /* 0x000000000000794d */
        /*0080*/                   BRA 0x80;                                    /* 0x000000000000794d */
\t\t..........

\t\tFunction : kern_b
        /*0000*/                   FFMA R0, R1, R2, R3 ;                        /* 0x0000000000007223 */
        /*0010*/                   UTCHMMA gdesc[UR4], gdesc[UR6], tmem[UR8], tmem[UR10], idesc[UR11], UPT ;
        /*0020*/                   EXIT ;
"""


def test_parse_resource_usage_and_histogram():
    kernels = sass.parse_cuobjdump(CUOBJDUMP_TEXT)
    a, b = kernels["kern_a"], kernels["kern_b"]
    assert (a.registers, a.stack_bytes, a.shared_bytes, a.local_bytes) == (40, 16, 4096, 24)
    assert a.histogram["HMMA.16816.F32.BF16"] == 2 and a.histogram["LDG.E.128"] == 1
    assert a.tensor_instructions == ["HMMA.16816.F32.BF16", "DMMA.8x8x4"]
    assert a.spill_instructions == 2 and a.count("STL") == 1
    assert sum(a.histogram.values()) == 9
    assert b.registers == 8 and b.tensor_instructions == ["UTCHMMA"] and b.histogram["FFMA"] == 1


@pytest.mark.parametrize("opcode, expected", [
    ("LDG.E.128.CONSTANT", "LDG.E.128"),
    ("LDG.E.64", "LDG.E.64"),
    ("LDG.E", "LDG.E"),
    ("STG.E.128", "STG.E.128"),
    ("LDSM.16.M88.4", "LDSM.16.M88.4"),
    ("FFMA.FTZ", "FFMA"),
    ("QMMA.16832.F32.E4M3.E4M3", "QMMA.16832.F32.E4M3.E4M3"),
    ("OMMA.SF.16864.F32.E2M1.E2M1.UE4M3.4X", "OMMA.SF.16864.F32.E2M1.E2M1.UE4M3.4X"),
    ("HGMMA.64x128x16.F32", "HGMMA.64x128x16.F32"),
    ("IMAD.MOV.U32", "IMAD"),
])
def test_instruction_classes(opcode, expected):
    assert sass.instruction_class(opcode) == expected


def test_round_trip_through_dict():
    kernel = sass.parse_cuobjdump(CUOBJDUMP_TEXT)["kern_a"]
    again = sass.KernelSass.from_dict(kernel.to_dict())
    assert again == kernel and isinstance(again.histogram, Counter)


def test_summaries_of_a_cubin_never_raise_a_key_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sass, "run_cuobjdump", lambda cubin: CUOBJDUMP_TEXT)
    cubin = b"\x7fELF .text.kern_a .text.kern_b"
    kernels = sass.summarize(cubin, Cache(tmp_path))
    assert kernels["kern_a"].registers == 40
    with pytest.raises(sass.SassUnavailable, match="no SASS for kernel absent .*kern_a, kern_b"):
        kernels["absent"]
    assert issubclass(sass.SassUnavailable, SmbenchError) and not issubclass(sass.SassUnavailable, KeyError)
    reading = sass.read(cubin, Cache(tmp_path))
    assert reading.checked and reading.status == "checked" and reading.to_dict() == {"status": "checked"}
    assert reading.kernel("kern_b").registers == 8 and reading.why_not("kern_b") == ""
    assert reading.kernel("absent") is None and "absent" in reading.why_not("absent")


def test_a_failing_reader_is_unchecked_with_its_reason(tmp_path, monkeypatch):
    def broken(cubin):
        raise SmbenchError("cuobjdump failed: simulated")

    monkeypatch.setattr(sass, "run_cuobjdump", broken)
    reading = sass.read(b"\x7fELF .text.k", Cache(tmp_path))
    assert reading.to_dict() == {"status": "unchecked", "reason": "cuobjdump failed: simulated"}
    assert sass.kernel_summary(b"\x7fELF .text.k", "k", Cache(tmp_path)) == (None, "cuobjdump failed: simulated")


_WIDTH_SUFFIX = {4: "", 8: ".64", 16: ".128"}
# Reading SASS needs cuobjdump (a pip wheel or a CUDA toolkit); without one it is 'unchecked'.
_NO_READER = sass.reader_missing()
needs_sass = pytest.mark.skipif(bool(_NO_READER), reason=f"SASS unchecked here: {_NO_READER}")


@needs_sass
@pytest.mark.parametrize("target", [t.name for t in target_table.all_targets()])
def test_stream_kernels_move_data_at_their_stated_width_everywhere(target, builtin_matrix):
    """stream_<op>_<type>_v<W>: every global load and store is W bytes wide (16-byte variants:
    LDG.E.128 / STG.E.128 only), with no spills. Partial sums of reductions are the exception:
    one element-wide store per block."""
    result = compile_file(KERNELS / "stream.cu", target)
    assert result.ok, result.log
    kernels = {name: k for name, k in sass.summarize(result.cubin).items() if name.startswith("stream_")}
    assert len(kernels) == 7 * 5 + 1  # seven operations x (f32 x 3 widths + f64 x 2) + the empty kernel
    for name, kernel in kernels.items():
        assert kernel.local_bytes == 0 and kernel.spill_instructions == 0, name
        if name == "stream_empty":
            continue
        op, dtype, width = name.split("_")[1], name.split("_")[2], int(name.split("_v")[1])
        wide = _WIDTH_SUFFIX[width]
        loads = {o: n for o, n in kernel.histogram.items() if o.startswith("LDG")}
        stores = {o: n for o, n in kernel.histogram.items() if o.startswith("STG")}
        reads = {"copy": 1, "scale": 1, "add": 2, "triad": 2, "dot": 2, "read": 1, "write": 0}[op]
        assert loads == ({f"LDG.E{wide}": reads} if reads else {}), (name, loads)
        if op in ("dot", "read"):
            assert stores == {"STG.E" + ("" if dtype == "f32" else ".64"): 1}, (name, stores)
        else:
            assert stores == {f"STG.E{wide}": 1}, (name, stores)
