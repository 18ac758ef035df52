// stream.cu - memory bandwidth kernels in the manner of BabelStream.
//
// Operations (arrays a, b, c of n packs; s a scalar):
//   copy  c = a          scale b = s * c        add   c = a + b
//   triad a = b + s * c  dot   sum(a * b)       read  sum(a)        write c = s
// Each comes in element types f32/f64 and access widths of 4, 8 and 16 bytes per
// thread per array ("packs" of 1-4 elements; f64 has no 4-byte form). Kernel names:
// stream_<op>_<f32|f64>_v<width>, e.g. stream_triad_f32_v16.
//
// Grid-stride loops: the host sizes the grid from the SM count and the occupancy,
// and n counts packs. Reductions (dot, read) write one partial sum per block to
// `partial`; the host adds the partials in double precision.
//
// Parameter order: the arrays read, the array written, partial (reductions), the
// scalar (scale, triad, write), n.

template <typename T, int WIDTH>
struct alignas(WIDTH) Pack {
    static constexpr int N = WIDTH / sizeof(T);
    T v[N];
};

#define SMBENCH_GRID_STRIDE(i, n)                                                     \
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; \
         i < (n); i += (unsigned long long)gridDim.x * blockDim.x)

template <typename P>
__device__ __forceinline__ void copy_body(const P *__restrict__ a, P *__restrict__ c, unsigned long long n) {
    SMBENCH_GRID_STRIDE(i, n) c[i] = a[i];
}

template <typename T, typename P>
__device__ __forceinline__ void scale_body(const P *__restrict__ c, P *__restrict__ b, T s, unsigned long long n) {
    SMBENCH_GRID_STRIDE(i, n) {
        P x = c[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k) x.v[k] = s * x.v[k];
        b[i] = x;
    }
}

template <typename P>
__device__ __forceinline__ void add_body(const P *__restrict__ a, const P *__restrict__ b, P *__restrict__ c,
                                         unsigned long long n) {
    SMBENCH_GRID_STRIDE(i, n) {
        P x = a[i];
        const P y = b[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k) x.v[k] = x.v[k] + y.v[k];
        c[i] = x;
    }
}

template <typename T, typename P>
__device__ __forceinline__ void triad_body(const P *__restrict__ b, const P *__restrict__ c, P *__restrict__ a, T s,
                                           unsigned long long n) {
    SMBENCH_GRID_STRIDE(i, n) {
        P x = b[i];
        const P y = c[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k) x.v[k] = x.v[k] + s * y.v[k];
        a[i] = x;
    }
}

template <typename T, typename P>
__device__ __forceinline__ void write_body(P *__restrict__ c, T s, unsigned long long n) {
    P x;
#pragma unroll
    for (int k = 0; k < P::N; ++k) x.v[k] = s;
    SMBENCH_GRID_STRIDE(i, n) c[i] = x;
}

// Block-wide sum of one value per thread; blockDim.x must be a power of two <= 1024.
template <typename T>
__device__ __forceinline__ void block_sum_to(T value, T *partial) {
    __shared__ T shared[1024];
    shared[threadIdx.x] = value;
    __syncthreads();
    for (unsigned offset = blockDim.x / 2; offset > 0; offset /= 2) {
        if (threadIdx.x < offset) shared[threadIdx.x] += shared[threadIdx.x + offset];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

template <typename T, typename P>
__device__ __forceinline__ void dot_body(const P *__restrict__ a, const P *__restrict__ b, T *__restrict__ partial,
                                         unsigned long long n) {
    T sum = 0;
    SMBENCH_GRID_STRIDE(i, n) {
        const P x = a[i];
        const P y = b[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k) sum += x.v[k] * y.v[k];
    }
    block_sum_to(sum, partial);
}

template <typename T, typename P>
__device__ __forceinline__ void read_body(const P *__restrict__ a, T *__restrict__ partial, unsigned long long n) {
    T sum = 0;
    SMBENCH_GRID_STRIDE(i, n) {
        const P x = a[i];
#pragma unroll
        for (int k = 0; k < P::N; ++k) sum += x.v[k];
    }
    block_sum_to(sum, partial);
}

#define SMBENCH_STREAM_KERNELS(T, TNAME, WIDTH)                                                                \
    typedef Pack<T, WIDTH> Pack_##TNAME##_##WIDTH;                                                            \
    extern "C" __global__ void stream_copy_##TNAME##_v##WIDTH(const Pack_##TNAME##_##WIDTH *a,                \
                                                               Pack_##TNAME##_##WIDTH *c, unsigned long long n) { \
        copy_body(a, c, n);                                                                                    \
    }                                                                                                          \
    extern "C" __global__ void stream_scale_##TNAME##_v##WIDTH(const Pack_##TNAME##_##WIDTH *c,               \
                                                                Pack_##TNAME##_##WIDTH *b, T s,                \
                                                                unsigned long long n) {                        \
        scale_body<T>(c, b, s, n);                                                                             \
    }                                                                                                          \
    extern "C" __global__ void stream_add_##TNAME##_v##WIDTH(const Pack_##TNAME##_##WIDTH *a,                 \
                                                              const Pack_##TNAME##_##WIDTH *b,                 \
                                                              Pack_##TNAME##_##WIDTH *c, unsigned long long n) { \
        add_body(a, b, c, n);                                                                                  \
    }                                                                                                          \
    extern "C" __global__ void stream_triad_##TNAME##_v##WIDTH(const Pack_##TNAME##_##WIDTH *b,               \
                                                                const Pack_##TNAME##_##WIDTH *c,               \
                                                                Pack_##TNAME##_##WIDTH *a, T s,                \
                                                                unsigned long long n) {                        \
        triad_body<T>(b, c, a, s, n);                                                                          \
    }                                                                                                          \
    extern "C" __global__ void stream_dot_##TNAME##_v##WIDTH(const Pack_##TNAME##_##WIDTH *a,                 \
                                                              const Pack_##TNAME##_##WIDTH *b, T *partial,     \
                                                              unsigned long long n) {                          \
        dot_body<T>(a, b, partial, n);                                                                         \
    }                                                                                                          \
    extern "C" __global__ void stream_read_##TNAME##_v##WIDTH(const Pack_##TNAME##_##WIDTH *a, T *partial,    \
                                                               unsigned long long n) {                         \
        read_body<T>(a, partial, n);                                                                           \
    }                                                                                                          \
    extern "C" __global__ void stream_write_##TNAME##_v##WIDTH(Pack_##TNAME##_##WIDTH *c, T s,                \
                                                                unsigned long long n) {                        \
        write_body<T>(c, s, n);                                                                                \
    }

SMBENCH_STREAM_KERNELS(float, f32, 4)
SMBENCH_STREAM_KERNELS(float, f32, 8)
SMBENCH_STREAM_KERNELS(float, f32, 16)
SMBENCH_STREAM_KERNELS(double, f64, 8)
SMBENCH_STREAM_KERNELS(double, f64, 16)

// An empty kernel: launch latency.
extern "C" __global__ void stream_empty() {}
