// gemm.cu - a tiled GEMM on mma.sync: shared-memory tiles filled by a multi-stage
// cp.async pipeline, fragments read with ldmatrix, one kernel per format.
//
//   C (M x N, row-major, ldc elements) = A (M x K, row-major) x B (K x N, column-major)
//
// Both operands are K-contiguous: a row of A and a column of B are each K elements
// in a row of memory (lda / ldb bytes apart, a multiple of 16). That is the layout
// every mma.sync operand wants, so one ldmatrix (non-transposed) serves A and B for
// every format: counted in bytes, an m16n8k16 step of a 16-bit format and an
// m16n8k32 step of an 8-bit one both cover 32 bytes of K, and ldmatrix's 8 x 16-byte
// matrices land in the fragment layout the PTX ISA gives for both.
//
// Any M, N, K: tiles past M or N are zero-filled by cp.async (src-size 0) and never
// stored; the last 16 bytes of K are read with src-size = the bytes left, the rest
// zero-filled, so K need not be a multiple of anything.
//
// Tile shape and stage count are compile-time (-D options chosen per target by
// src/smbench/families/gemm.py from the target's shared memory):
//   SMBENCH_GEMM_BM x SMBENCH_GEMM_BN block tile, SMBENCH_GEMM_WARPS_M x _WARPS_N warps,
//   SMBENCH_GEMM_STAGES tiles of K in flight. The K tile is 128 bytes (64 16-bit or
//   128 8-bit elements): eight 16-byte chunks per row, which is also the period of the
//   XOR swizzle (chunk ^ row % 8) that keeps ldmatrix and cp.async free of bank conflicts.
//
// Split K: with gridDim.z = S > 1 each z-slice takes its share of the K tiles and
// writes its accumulators (f32 or s32) to partial[z][M][N]; gemm_reduce_* adds the S
// slices in order into C. Blocks walk the (M, N) tiles in groups of SMBENCH_GEMM_GROUP
// rows of tiles, so that the tiles running together share A and B in L2.
//
// NVFP4 (gemm_nvfp4_f32acc, mma.sync m16n8k64 kind::mxf4nvf4 scale_vec::4X): A and B hold e2m1
// elements packed two per byte along K (element 2i in the low nibble), so a K tile is 256
// elements and an m16n8k64 step is again 32 bytes, in the same fragment bytes ldmatrix gives
// an 8-bit step. Beside them, SA and SB hold one ue4m3 scale per 16 elements of K, a row of A's
// (column of B's) scales `lds` bytes apart: 16 bytes per K tile, copied into the same stage as
// the tile's elements. One 32-bit word of a row's scales is one step's four blocks, byte j the
// scale of block j: the scale operand a lane passes, with selectors {byte-id 0, thread-id 0}
// (PTX ISA, "Block Scaling for mma.sync": A's scales come from lanes with threadID_in_group 0
// and 1, rows groupID and groupID + 8; B's from threadID_in_group 0, column groupID; the other
// lanes pass the same words, unread). The scales take 1/8 more shared memory per stage, so
// this kernel keeps as many stages as the tile's shared memory holds (Pipeline<Op>).
//
// A target without a format compiles the kernel to a stub that writes
// SMBENCH_STATUS_UNSUPPORTED to *status.
#include "mma_ops.cuh"

#ifndef SMBENCH_GEMM_BM
#define SMBENCH_GEMM_BM 128
#endif
#ifndef SMBENCH_GEMM_BN
#define SMBENCH_GEMM_BN 128
#endif
#ifndef SMBENCH_GEMM_WARPS_M
#define SMBENCH_GEMM_WARPS_M 2
#endif
#ifndef SMBENCH_GEMM_WARPS_N
#define SMBENCH_GEMM_WARPS_N 4
#endif
#ifndef SMBENCH_GEMM_STAGES
#define SMBENCH_GEMM_STAGES 3
#endif
#ifndef SMBENCH_GEMM_GROUP
#define SMBENCH_GEMM_GROUP 8
#endif

namespace gemm {

constexpr int BM = SMBENCH_GEMM_BM, BN = SMBENCH_GEMM_BN;
constexpr int WARPS_M = SMBENCH_GEMM_WARPS_M, WARPS_N = SMBENCH_GEMM_WARPS_N;
constexpr int STAGES = SMBENCH_GEMM_STAGES;
constexpr int THREADS = 32 * WARPS_M * WARPS_N;
constexpr int BK_BYTES = 128;           // one K tile: 8 chunks of 16 bytes per row
constexpr int CHUNKS = BK_BYTES / 16;   // = the swizzle period
constexpr int STEP_BYTES = 32;          // K bytes of one mma (k16 x 2 bytes, k32 x 1 byte)
constexpr int KSTEPS = BK_BYTES / STEP_BYTES;
constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // one warp's tile
constexpr int MT = WM / 16, NT = WN / 8;              // mma tiles per warp
constexpr int A_BYTES = BM * BK_BYTES, STAGE_BYTES = (BM + BN) * BK_BYTES;

static_assert(BM % (16 * WARPS_M) == 0, "a warp's rows must be whole m16 tiles");
static_assert(BN % (16 * WARPS_N) == 0, "a warp's columns must be whole pairs of n8 tiles (ldmatrix.x4)");
static_assert(STAGES >= 2, "a pipeline needs at least two stages");

// Bytes of block scales per row of A (column of B) per K tile: none for an unscaled format;
// NVFP4: 128 bytes of K are 256 e2m1, one ue4m3 per 16 of them.
template <class Op>
struct ScaleBytes {
    static constexpr int value = 0;
};
template <>
struct ScaleBytes<OpNVFP4> {
    static constexpr int value = BK_BYTES * 2 / 16;
};

// A stage: A's K tile, B's K tile, then (block-scaled formats) A's and B's scales for it. As many
// stages as fit in the STAGES unscaled ones the host sized shared memory for
// (smbench.families.gemm.stages says the same).
template <class Op>
struct Pipeline {
    static constexpr int kScale = ScaleBytes<Op>::value;
    static constexpr int kStages = STAGES * BK_BYTES / (BK_BYTES + kScale);
    static constexpr int kStageBytes = (BM + BN) * (BK_BYTES + kScale);
    static constexpr int kScalesAt = (BM + BN) * BK_BYTES;  // A's scales; B's follow at + BM * kScale
    static_assert(kStages >= 2, "a pipeline needs at least two stages");
    static_assert(kStages * kStageBytes <= STAGES * STAGE_BYTES, "the stages fit the shared memory the host gives");
};

// Byte offset of (row, 16-byte chunk) in a tile: the chunk is XORed with the row, so
// the 8 rows one ldmatrix phase reads at the same logical chunk sit in 8 different
// bank groups.
__device__ __forceinline__ unsigned swizzle(int row, int chunk) {
    return (unsigned)(row * BK_BYTES + ((chunk ^ (row & (CHUNKS - 1))) << 4));
}

__device__ __forceinline__ unsigned shared_address(const void *p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

// 16 bytes global -> shared, of which `bytes` are read and the rest zero-filled. `src`
// must be 16-byte aligned (every row pitch is a multiple of 16): ptxas carries the
// count of zero-filled bytes in the low bits of the source address.
__device__ __forceinline__ void copy16(unsigned dst, const void *src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}

__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;"); }

template <int N>
__device__ __forceinline__ void wait_pending() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], unsigned address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

// One K tile of ROWS rows (of A or of B) into a stage. `rows` is how many rows exist
// from the tile's first; `k_bytes` how many bytes of K exist from the tile's start.
template <int ROWS>
__device__ __forceinline__ void load_tile(unsigned stage, const char *first_row, int rows, long ld_bytes,
                                          int k_bytes) {
    static_assert(ROWS * CHUNKS % THREADS == 0, "every thread copies the same number of chunks");
#pragma unroll
    for (int i = 0; i < ROWS * CHUNKS / THREADS; ++i) {
        const int index = threadIdx.x + i * THREADS;
        const int row = index / CHUNKS, chunk = index % CHUNKS;
        int bytes = k_bytes - chunk * 16;
        bytes = row < rows ? (bytes < 0 ? 0 : (bytes > 16 ? 16 : bytes)) : 0;
        // A chunk with nothing to read still needs a valid address: the tile's first row.
        const char *src = bytes ? first_row + row * ld_bytes + chunk * 16 : first_row;
        copy16(stage + swizzle(row, chunk), src, bytes);
    }
}

// One K tile's scales of A's BM rows and B's BN columns, stored in that order: a 16-byte chunk
// per row, `bytes` of it read from each row that exists (a_rows of A's, b_rows of B's), the
// rest zero-filled.
template <int SCALE>
__device__ __forceinline__ void load_scales(unsigned stage, const char *a_first, int a_rows, const char *b_first,
                                            int b_rows, long ld_bytes, int bytes) {
    static_assert(SCALE == 16, "one 16-byte chunk of scales per row and K tile");
    bytes = bytes < 0 ? 0 : (bytes > SCALE ? SCALE : bytes);
#pragma unroll
    for (int i = 0; i < (BM + BN + THREADS - 1) / THREADS; ++i) {
        const int row = threadIdx.x + i * THREADS;
        if ((BM + BN) % THREADS == 0 || row < BM + BN) {
            const bool of_a = row < BM;
            const int r = of_a ? row : row - BM;
            const char *first = of_a ? a_first : b_first;
            const int n = r < (of_a ? a_rows : b_rows) ? bytes : 0;
            copy16(stage + row * SCALE, n ? first + r * ld_bytes : first, n);
        }
    }
}

__device__ __forceinline__ unsigned load_shared_u32(unsigned address) {
    unsigned v;
    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(address));
    return v;
}

// Where the accumulators go: C in its own type, or a split-K slice in the accumulator's.
__device__ __forceinline__ void put(float *c, long at, float v) { c[at] = v; }
__device__ __forceinline__ void put(int *c, long at, int v) { c[at] = v; }

// Stores one mma tile's accumulators: register r of the f32/s32 layout holds row
// groupID (+8 for r >= 2), column 2 * threadID_in_group + (r & 1).
template <class Acc>
__device__ __forceinline__ void store_tile(Acc *out, long ld, int row0, int col0, int rows, int cols,
                                           const Acc (&d)[4]) {
    const int lane = threadIdx.x & 31;
    const int row = row0 + (lane >> 2), col = col0 + 2 * (lane & 3);
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        const int rr = row + (r >> 1) * 8, cc = col + (r & 1);
        if (rr < rows && cc < cols) put(out, (long)rr * ld + cc, d[r]);
    }
}

// The f16 accumulator: two f16x2 registers, rows groupID and groupID + 8, the lower
// half holding the lower column.
__device__ __forceinline__ void store_tile(unsigned short *out, long ld, int row0, int col0, int rows, int cols,
                                           const unsigned (&d)[2]) {
    const int lane = threadIdx.x & 31;
    const int row = row0 + (lane >> 2), col = col0 + 2 * (lane & 3);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int rr = row + r * 8;
#pragma unroll
        for (int h = 0; h < 2; ++h)
            if (rr < rows && col + h < cols) out[(long)rr * ld + col + h] = (unsigned short)(d[r] >> (16 * h));
    }
}

template <class Acc>
struct OutputOf {
    typedef Acc type;
};
template <>
struct OutputOf<unsigned> {
    typedef unsigned short type;  // f16 bits
};

template <class Op>
__device__ __forceinline__ void mma(typename Op::Acc (&d)[Op::kRegs], const unsigned (&a)[4], const unsigned (&b)[2],
                                    unsigned scale_a = 0u, unsigned scale_b = 0u) {
    Fragments f;
#pragma unroll
    for (int i = 0; i < 4; ++i) f.a[i] = a[i];
    f.b[0] = b[0];
    f.b[1] = b[1];
    f.scale_a = scale_a;
    f.scale_b = scale_b;
    Op::step(d, a[0], b[0], f);
}

// The tile of C this block computes: blocks walk groups of GROUP tile rows, every
// column of tiles within a group before the next group.
__device__ __forceinline__ void tile_of_block(int tiles_m, int tiles_n, int &tile_m, int &tile_n) {
    const int id = blockIdx.x, per_group = SMBENCH_GEMM_GROUP * tiles_n;
    const int group = id / per_group, first = group * SMBENCH_GEMM_GROUP;
    const int size = min(tiles_m - first, SMBENCH_GEMM_GROUP);
    tile_m = first + (id % per_group) % size;
    tile_n = (id % per_group) / size;
}

template <class Op>
__device__ __forceinline__ void body(const char *A, const char *B, void *C, void *partial, int M, int N,
                                     int k_bytes, long lda, long ldb, long ldc, const char *SA, const char *SB,
                                     long lds) {
    typedef typename Op::Acc Acc;
    typedef Pipeline<Op> P;
    constexpr int kStages = P::kStages;
    extern __shared__ __align__(128) unsigned char smem[];
    const unsigned base = shared_address(smem);

    const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
    int tile_m, tile_n;
    tile_of_block(tiles_m, tiles_n, tile_m, tile_n);
    const int row0 = tile_m * BM, col0 = tile_n * BN;

    // This z-slice's K tiles.
    const int k_tiles = (k_bytes + BK_BYTES - 1) / BK_BYTES;
    const int per_slice = (k_tiles + gridDim.z - 1) / gridDim.z;
    const int first_tile = blockIdx.z * per_slice;
    const int count = max(0, min(k_tiles, first_tile + per_slice) - first_tile);

    const char *a_rows = A + (long)row0 * lda, *b_rows = B + (long)col0 * ldb;
    const char *sa_rows = SA + (long)row0 * lds, *sb_rows = SB + (long)col0 * lds;
    // A row's scale bytes: one per 16 elements, i.e. per 8 bytes of K (an odd K's last byte
    // holds one element: (k_bytes + 7) / 8 is still ceil(K / 16)).
    const int s_bytes = (k_bytes + 7) / 8;
    auto load = [&](int stage, int tile) {
        const unsigned s = base + stage * P::kStageBytes;
        const int k0 = (first_tile + tile) * BK_BYTES;
        load_tile<BM>(s, a_rows + k0, M - row0, lda, k_bytes - k0);
        load_tile<BN>(s + A_BYTES, b_rows + k0, N - col0, ldb, k_bytes - k0);
        if constexpr (P::kScale > 0) {
            const int s0 = (first_tile + tile) * P::kScale;
            load_scales<P::kScale>(s + P::kScalesAt, sa_rows + s0, M - row0, sb_rows + s0, N - col0, lds,
                                   s_bytes - s0);
        }
    };

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int warp_row = (warp / WARPS_N) * WM, warp_col = (warp % WARPS_N) * WN;

    Acc acc[MT][NT][Op::kRegs];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int r = 0; r < Op::kRegs; ++r) acc[i][j][r] = 0;

    // Prologue: kStages - 1 tiles in flight. A group is committed even when empty, so
    // that "all but kStages - 2 groups done" always means "the next tile has landed".
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
        if (s < count) load(s, s);
        commit();
    }

#pragma unroll 1
    for (int t = 0; t < count; ++t) {
        wait_pending<kStages - 2>();
        // Tile t is in shared memory for every thread, and every warp is done with the
        // stage tile t - 1 used, which the next load reuses.
        __syncthreads();
        if (t + kStages - 1 < count) load((t + kStages - 1) % kStages, t + kStages - 1);
        commit();

        const unsigned a_stage = base + (t % kStages) * P::kStageBytes, b_stage = a_stage + A_BYTES;
        // This lane's scale rows (block-scaled formats): A's row groupID (+ 8 for odd
        // threadID_in_group) of each m16 tile, B's column groupID of each n8 tile.
        const unsigned sa_stage = a_stage + P::kScalesAt + (warp_row + (lane >> 2) + 8 * (lane & 1)) * P::kScale;
        const unsigned sb_stage = a_stage + P::kScalesAt + (BM + warp_col + (lane >> 2)) * P::kScale;
#pragma unroll
        for (int step = 0; step < KSTEPS; ++step) {
            unsigned a[MT][4], b[NT][2];
            // A: matrices (rows 0-7, 8-15) x (low, high 16 bytes of the step): lane l
            // gives row l % 16 of chunk 2 step + l / 16 -> registers a0..a3 of m16n8kX.
#pragma unroll
            for (int i = 0; i < MT; ++i)
                ldmatrix_x4(a[i], a_stage + swizzle(warp_row + i * 16 + (lane & 15), 2 * step + (lane >> 4)));
            // B: two n8 tiles per ldmatrix.x4: lanes 0-15 the first (low, high half of
            // the step), lanes 16-31 the second -> b0, b1 of each.
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                unsigned r[4];
                ldmatrix_x4(r, b_stage + swizzle(warp_col + j * 8 + ((lane >> 4) << 3) + (lane & 7),
                                                 2 * step + ((lane >> 3) & 1)));
                b[j][0] = r[0];
                b[j][1] = r[1];
                b[j + 1][0] = r[2];
                b[j + 1][1] = r[3];
            }
            if constexpr (P::kScale > 0) {
                // This step's four scales of each row (column) are one word: bytes 4 step .. 4 step + 3.
                unsigned sa[MT], sb[NT];
#pragma unroll
                for (int i = 0; i < MT; ++i) sa[i] = load_shared_u32(sa_stage + i * 16 * P::kScale + 4 * step);
#pragma unroll
                for (int j = 0; j < NT; ++j) sb[j] = load_shared_u32(sb_stage + j * 8 * P::kScale + 4 * step);
#pragma unroll
                for (int i = 0; i < MT; ++i)
#pragma unroll
                    for (int j = 0; j < NT; ++j) mma<Op>(acc[i][j], a[i], b[j], sa[i], sb[j]);
            } else {
#pragma unroll
                for (int i = 0; i < MT; ++i)
#pragma unroll
                    for (int j = 0; j < NT; ++j) mma<Op>(acc[i][j], a[i], b[j]);
            }
        }
    }
    wait_pending<0>();  // nothing may still be writing shared memory when the block exits

    // Split K: this slice's sums, in the accumulator's type. Only f32 and s32
    // accumulators are split (the host never splits an f16 accumulation: adding f16
    // slices would not be an f16-accumulating GEMM).
    if constexpr (Op::kRegs == 4) {
        if (partial != nullptr) {
            Acc *out = (Acc *)partial + (long)blockIdx.z * M * N;
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
                    store_tile(out, N, row0 + warp_row + i * 16, col0 + warp_col + j * 8, M, N, acc[i][j]);
            return;
        }
    }
    {
        typedef typename OutputOf<Acc>::type Out;
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j)
                store_tile((Out *)C, ldc, row0 + warp_row + i * 16, col0 + warp_col + j * 8, M, N, acc[i][j]);
    }
}

__device__ __forceinline__ void report_unsupported(unsigned *status) {
    if (threadIdx.x == 0 && blockIdx.x == 0 && blockIdx.z == 0) *status = SMBENCH_STATUS_UNSUPPORTED;
}

}  // namespace gemm

// SA, SB, lds: the block scales (NVFP4) and their row pitch in bytes; unread by the other kernels.
#define SMBENCH_GEMM_PARAMS                                                                                  \
    const char *A, const char *B, void *C, void *partial, int M, int N, int k_bytes, long long lda,         \
        long long ldb, long long ldc, const char *SA, const char *SB, long long lds, unsigned *status

// SMBENCH_GEMM_ONLY: a bit mask of the kernels (by the number after each below) whose body a
// build compiles; the others are stubs that report "unsupported". A run builds each format
// with the tile it gets, so a build holds only the kernels that use that tile: a body is
// most of the compile time (the FP8 emulation on sm_90 most of all). Default: every kernel.
#ifndef SMBENCH_GEMM_ONLY
#define SMBENCH_GEMM_ONLY 0xFFFFFFFFu
#endif

#define SMBENCH_GEMM_KERNEL(NAME, OP, GUARD, BIT)                                                            \
    extern "C" __global__ void __launch_bounds__(gemm::THREADS, 1) NAME(SMBENCH_GEMM_PARAMS) {             \
        if ((GUARD) && ((SMBENCH_GEMM_ONLY) >> (BIT) & 1u)) {                                                \
            gemm::body<OP>(A, B, C, partial, M, N, k_bytes, lda, ldb, ldc, SA, SB, lds);                     \
        } else {                                                                                             \
            gemm::report_unsupported(status);                                                                \
        }                                                                                                    \
    }

SMBENCH_GEMM_KERNEL(gemm_f16_f32acc, OpF16F32, SMBENCH_HAS_MMA_SM80, 0)
SMBENCH_GEMM_KERNEL(gemm_bf16_f32acc, OpBF16F32, SMBENCH_HAS_MMA_SM80, 1)
SMBENCH_GEMM_KERNEL(gemm_f16_f16acc, OpF16F16, SMBENCH_HAS_MMA_SM80, 2)
SMBENCH_GEMM_KERNEL(gemm_s8_s32acc, OpS8S32, SMBENCH_HAS_MMA_SM80, 3)
SMBENCH_GEMM_KERNEL(gemm_e4m3_f32acc_sm89, OpE4M3Sm89, SMBENCH_HAS_MMA_FP8_SM89, 4)
SMBENCH_GEMM_KERNEL(gemm_e4m3_f32acc_f8f6f4, OpE4M3F8F6F4, SMBENCH_HAS_MMA_F8F6F4_FP8, 5)
SMBENCH_GEMM_KERNEL(gemm_nvfp4_f32acc, OpNVFP4, SMBENCH_HAS_MMA_BLOCK_SCALE, 6)

// Split K: C = the sum of the slices, added in slice order (the same answer on every
// run). Grid: (columns / blockDim.x, rows).
template <class T>
__device__ __forceinline__ void reduce_slices(const T *partial, T *C, int M, int N, int slices, long long ldc) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y;
    if (col >= N) return;
    const long at = (long)row * N + col, slice = (long)M * N;
    T sum = 0;
    for (int s = 0; s < slices; ++s) sum += partial[s * slice + at];
    C[row * ldc + col] = sum;
}

extern "C" __global__ void gemm_reduce_f32(const float *partial, float *C, int M, int N, int slices, long long ldc) {
    reduce_slices(partial, C, M, N, slices, ldc);
}

extern "C" __global__ void gemm_reduce_s32(const int *partial, int *C, int M, int N, int slices, long long ldc) {
    reduce_slices(partial, C, M, N, slices, ldc);
}
