"""The non-mma facts of the target table, checked against the compiler on every target.

One small kernel per feature; `compat` itself compiles them, so a kernel rejected on
a target never hides its neighbours. (The mma formats are checked against the
built-in kernels in test_compat.py.)
"""

import pytest

from smbench import compat
from smbench import targets as target_table
from smbench.cache import Cache

_BLOCK_SCALED = r"""
extern "C" __global__ void feature_block_scale_%(name)s(const unsigned *in, float *out) {
    float d[4] = {0, 0, 0, 0};
    asm volatile("%(ptx)s {%%0,%%1,%%2,%%3}, {%%4,%%4,%%4,%%4}, {%%5,%%5}, {%%0,%%1,%%2,%%3}, %%6, {0, 0}, %%6, {0, 0};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(in[0]), "r"(in[1]), "r"(in[2]));
    out[threadIdx.x] = d[0] + d[1] + d[2] + d[3];
}"""

# The block-scaled kinds other than the NVFP4 kernel in kernels/mma.cu: all one feature.
BLOCK_SCALED_KINDS = {
    "mxf8f6f4": "mma.sync.aligned.m16n8k32.row.col.kind::mxf8f6f4.block_scale.scale_vec::1X.f32.e4m3.e4m3.f32.ue8m0",
    "mxf4": "mma.sync.aligned.m16n8k64.row.col.kind::mxf4.block_scale.scale_vec::2X.f32.e2m1.e2m1.f32.ue8m0",
    "mxf4nvf4_2x": "mma.sync.aligned.m16n8k64.row.col.kind::mxf4nvf4.block_scale.scale_vec::2X.f32.e2m1.e2m1.f32.ue8m0",
}

FEATURE_KERNELS = {
    "ldmatrix": r"""
extern "C" __global__ void feature_ldmatrix(unsigned *out) {
    __shared__ unsigned short tile[8 * 8 * 4];
    tile[threadIdx.x] = threadIdx.x;
    __syncthreads();
    unsigned r0, r1, r2, r3;
    unsigned address = (unsigned)__cvta_generic_to_shared(tile + (threadIdx.x % 32) * 8);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(address));
    out[threadIdx.x] = r0 + r1 + r2 + r3;
}""",
    "cp.async": r"""
extern "C" __global__ void feature_cp_async(const int4 *in, int4 *out) {
    __shared__ int4 staged[32];
    unsigned address = (unsigned)__cvta_generic_to_shared(staged + threadIdx.x);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(address), "l"(in + threadIdx.x));
    asm volatile("cp.async.commit_group;");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    __syncthreads();
    out[threadIdx.x] = staged[threadIdx.x];
}""",
    "cp.async.bulk": r"""
extern "C" __global__ void feature_cp_async_bulk(const int4 *in, int4 *out) {
    __shared__ alignas(128) int4 staged[32];
    __shared__ alignas(8) unsigned long long barrier;
    unsigned dst = (unsigned)__cvta_generic_to_shared(staged);
    unsigned bar = (unsigned)__cvta_generic_to_shared(&barrier);
    if (threadIdx.x == 0) {
        asm volatile("mbarrier.init.shared.b64 [%0], 1;" :: "r"(bar));
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], 512, [%2];"
                     :: "r"(dst), "l"(in), "r"(bar) : "memory");
    }
    __syncthreads();
    out[threadIdx.x] = staged[threadIdx.x];
}""",
    "wgmma": r"""
extern "C" __global__ void feature_wgmma(float *out, unsigned long long desc_a, unsigned long long desc_b) {
    float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %6, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%0,%1,%2,%3}, %4, %5, p, 1, 1, 0, 0;\n}"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3) : "l"(desc_a), "l"(desc_b), "r"(1));
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    out[threadIdx.x] = d0 + d1 + d2 + d3;
}""",
    "tcgen05": r"""
extern "C" __global__ void feature_tcgen05(int *out, unsigned tmem, unsigned long long desc_a,
                                           unsigned long long desc_b, unsigned idesc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %4, 0;\n"
                 "tcgen05.mma.cta_group::1.kind::f16 [%0], %1, %2, %3, p;\n}"
                 :: "r"(tmem), "l"(desc_a), "l"(desc_b), "r"(idesc), "r"(1));
    out[threadIdx.x] = 1;
}""",
}

pytestmark = pytest.mark.needs_sass  # every test here reads SASS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("features")
    source = directory / "features.cu"
    block_scaled = [_BLOCK_SCALED % {"name": name, "ptx": ptx} for name, ptx in BLOCK_SCALED_KINDS.items()]
    source.write_text("\n".join([*FEATURE_KERNELS.values(), *block_scaled]) + "\n")
    return compat.run(compat.user_units([source], []), target_table.all_targets(), cache=Cache(directory / "cache"))


def kernel_name(feature: str) -> str:
    return "feature_" + feature.replace(".", "_")


@pytest.mark.parametrize("feature", list(FEATURE_KERNELS))
def test_feature_compiles_exactly_where_the_table_says(report, feature):
    for target in target_table.all_targets():
        cell = report.cell(kernel_name(feature), target.name)
        assert cell.status in ("ok", "failed"), cell
        assert (cell.status == "ok") == target.has(feature), (feature, target.name, cell.error)


@pytest.mark.parametrize("kind", list(BLOCK_SCALED_KINDS))
def test_every_block_scaled_kind_compiles_where_the_table_says(report, kind):
    for target in target_table.all_targets():
        cell = report.cell(f"feature_block_scale_{kind}", target.name)
        assert (cell.status == "ok") == target.has("mma.block_scale"), (kind, target.name, cell.error)
        if cell.status == "ok":
            assert ".SF." in cell.tensor_instructions[0]  # the scale-factor form of QMMA/OMMA


def test_warpgroup_and_tensor_memory_mma_reach_the_machine_code(report):
    assert report.cell("feature_wgmma", "sm_90a").tensor_instructions[0].startswith("HGMMA")
    for target in ("sm_100a", "sm_100f"):
        assert report.cell("feature_tcgen05", target).tensor_instructions == ["UTCHMMA"]


def test_ldmatrix_and_cp_async_reach_the_machine_code(report):
    for target in ("sm_80", "sm_121a"):
        assert any(op.startswith("LDSM") for op in report.cell("feature_ldmatrix", target).histogram)
        assert any(op.startswith("LDGSTS") for op in report.cell("feature_cp_async", target).histogram)
