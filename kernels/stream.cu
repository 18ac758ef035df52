// stream.cu - memory bandwidth kernels.
//
// copy_f32x4: out[i] = in[i], moved as 16-byte vectors (LDG.E.128 / STG.E.128)
// with a grid-stride loop, so any grid size covers any length. n4 counts float4
// elements; the host handles a tail that is not a multiple of 4 floats.
extern "C" __global__ void copy_f32x4(const float4 *__restrict__ in, float4 *__restrict__ out, unsigned long long n4) {
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride)
        out[i] = in[i];
}
