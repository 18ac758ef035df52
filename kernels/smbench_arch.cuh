// smbench_arch.cuh - which tensor-core features the target being compiled has.
//
// The Python target table (src/smbench/targets.py) is the one place these facts
// are stated for people; this header restates them for the preprocessor, and
// tests/test_kernel_guards.py checks that the two agree on every target.
//
// Defining SMBENCH_PROBE_ALL turns every guard on, so that `smbench compat`
// sees what the compiler itself says about each instruction on each target.
#pragma once

#if defined(__CUDA_ARCH__)
#define SMBENCH_ARCH __CUDA_ARCH__
#else
#define SMBENCH_ARCH 0
#endif

// Architecture-specific ("a") targets define __CUDA_ARCH_SPECIFIC__; family ("f")
// and "a" targets both define __CUDA_ARCH_FAMILY_SPECIFIC__ (NVRTC >= 12.9).
#if defined(__CUDA_ARCH_FAMILY_SPECIFIC__)
#define SMBENCH_FAMILY __CUDA_ARCH_FAMILY_SPECIFIC__
#else
#define SMBENCH_FAMILY 0
#endif

#if defined(SMBENCH_PROBE_ALL)
#define SMBENCH_HAS_MMA_SM80 1
#define SMBENCH_HAS_MMA_INT4 1
#define SMBENCH_HAS_MMA_F64 1
#define SMBENCH_HAS_MMA_FP8_SM89 1
#define SMBENCH_HAS_MMA_F8F6F4_FP8 1
#define SMBENCH_HAS_MMA_F8F6F4_FP6FP4 1
#define SMBENCH_HAS_MMA_BLOCK_SCALE 1
#else
// f16/bf16/tf32/s8 mma.sync: every target from sm_80 on.
#define SMBENCH_HAS_MMA_SM80 (SMBENCH_ARCH >= 800)
// s4/u4 mma.sync: also every target from sm_80 on, but only sm_80/86/89 have INT4
// tensor cores; later targets compile it to s8 IMMA (the table calls it emulated).
#define SMBENCH_HAS_MMA_INT4 (SMBENCH_ARCH >= 800)
// f64 mma.sync (DMMA): every target from sm_80 on.
#define SMBENCH_HAS_MMA_F64 (SMBENCH_ARCH >= 800)
// e4m3/e5m2 mma.sync without a kind (PTX 8.4): sm_89 and later.
#define SMBENCH_HAS_MMA_FP8_SM89 (SMBENCH_ARCH >= 890)
// kind::f8f6f4 and the block-scaled kinds: the sm_120 family's "a"/"f" targets
// (sm_120a/f, sm_121a/f). With FP8 operands kind::f8f6f4 also compiles on
// sm_100a/f, where ptxas turns it into HMMA.
#define SMBENCH_SM12X_SPECIFIC (SMBENCH_FAMILY == 1200 || SMBENCH_FAMILY == 1210)
#define SMBENCH_HAS_MMA_F8F6F4_FP8 (SMBENCH_SM12X_SPECIFIC || SMBENCH_FAMILY == 1000)
#define SMBENCH_HAS_MMA_F8F6F4_FP6FP4 SMBENCH_SM12X_SPECIFIC
#define SMBENCH_HAS_MMA_BLOCK_SCALE SMBENCH_SM12X_SPECIFIC
#endif
