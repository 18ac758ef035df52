"""The GEMM family on the GPU: kernels/gemm.cu launched through CuPy, cuBLAS beside it.

Every decision (tile, split K, inputs, error bound) is in smbench.families.gemm and is
tested without a GPU; this module allocates, launches and times. cuBLAS is called as
cublasGemmEx on the very same buffers and layout (A row-major, B column-major, C
row-major, i.e. C^T = B^T A^T in cuBLAS's column-major terms: op(B) = T, op(A) = N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smbench.backends import cuda
from smbench.errors import SmbenchError, one_line
from smbench.families import gemm, peak
from smbench.families.gemm.part import HeldTo, Outcome
from smbench.timing import Stats, TimingPolicy

REDUCE_BLOCK = 256


class DeviceRandom:
    """The part of NumPy's Generator that gemm.random_operand and exact_operand use (uniform,
    integers, random), drawn on the GPU by cupy.random.RandomState (cuRAND): gigabytes of
    operands cost the host nothing, and the host reads back only the rows it checks."""

    def __init__(self, seed: int):
        self.state = cuda._cupy().random.RandomState(seed)

    def uniform(self, low: float, high: float, size):
        return self.state.uniform(low, high, size, dtype=np.float32)

    def integers(self, low: int, high: int, size, dtype=np.int64):
        return self.state.randint(low, high, size, dtype=dtype)

    def random(self, size, dtype=np.float64):
        return self.state.random_sample(size, dtype=dtype)


@dataclass
class Operands:
    """A and B on the device (rows of K, each leading_bytes long; a block-scaled format's scales
    beside them, rows scale_pitch long: gemm.device_layout). `a_host` and `b_host`: the whole
    operands where the host drew them (None where the GPU did)."""

    a_host: np.ndarray | None
    b_host: np.ndarray | None
    a: object
    b: object
    k: int
    drawn: str = "on the host"
    fmt: gemm.Format | None = None
    a_scales: object = None
    b_scales: object = None

    @classmethod
    def on_device(cls, fmt: gemm.Format, a, b, k: int, xp, a_host=None, b_host=None) -> "Operands":
        """Operands (rows x K, on the host with xp = NumPy, else on the device) laid out for the kernel."""
        cupy = cuda._cupy()
        (a_data, a_scales), (b_data, b_scales) = gemm.device_layout(fmt, a, xp), gemm.device_layout(fmt, b, xp)
        return cls(a_host, b_host, cupy.asarray(a_data), cupy.asarray(b_data), k, fmt=fmt,
                   a_scales=None if a_scales is None else cupy.asarray(a_scales),
                   b_scales=None if b_scales is None else cupy.asarray(b_scales))

    @classmethod
    def upload(cls, fmt: gemm.Format, a_host: np.ndarray, b_host: np.ndarray) -> "Operands":
        return cls.on_device(fmt, a_host, b_host, a_host.shape[1], np, a_host, b_host)

    @classmethod
    def draw(cls, fmt: gemm.Format, shape: gemm.Shape, seed: int, exact: bool) -> "Operands":
        """Inputs drawn where they are used: on the GPU (DeviceRandom); on the host and uploaded
        if that fails or gives values outside what the checks need (the record says which)."""
        m, n, k = shape.m, shape.n, shape.k
        try:
            cupy, rng = cuda._cupy(), DeviceRandom(seed)
            if exact:
                a = gemm.exact_operand(fmt, m, k, rng, gemm.exact_density(fmt, k), xp=cupy)
                b = gemm.exact_operand(fmt, n, k, rng, xp=cupy)
            else:
                a, b = gemm.random_operand(fmt, m, k, rng, xp=cupy), gemm.random_operand(fmt, n, k, rng, xp=cupy)
            drawn = cls.on_device(fmt, a, b, k, cupy)
            drawn.drawn = "on the GPU (cuRAND)"
            del a, b
            probe = drawn.sample(np.arange(min(m, 4)), np.arange(min(n, 4)))
            wrong = gemm.inputs_wrong(fmt, *probe, exact)
            if not wrong:
                return drawn
            why = wrong
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a CuPy without an API used here: the host draws
            why = one_line(exc)
        rng = np.random.default_rng(seed)
        if exact:
            a, b = gemm.exact_operand(fmt, m, k, rng, gemm.exact_density(fmt, k)), gemm.exact_operand(fmt, n, k, rng)
        else:
            a, b = gemm.random_operand(fmt, m, k, rng), gemm.random_operand(fmt, n, k, rng)
        uploaded = cls.upload(fmt, a, b)
        uploaded.drawn = f"on the host (drawing on the GPU failed: {why})"
        return uploaded

    def sample(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A's rows and B's rows (C's columns) at these indices, as the host holds them: codes
        of K elements, the padding left out (from the device's buffers: gemm.from_device)."""
        if self.a_host is not None:
            return self.a_host[rows], self.b_host[cols]
        return self._read(self.a, self.a_scales, rows), self._read(self.b, self.b_scales, cols)

    def _read(self, data, scales, indices: np.ndarray) -> np.ndarray:
        cupy = cuda._cupy()
        at = cupy.asarray(indices)
        return gemm.from_device(self.fmt, cupy.asnumpy(data[at]), None if scales is None else cupy.asnumpy(scales[at]),
                                self.k)


class Gemm:
    """One format's kernel built with one tile, launchable on any problem."""

    def __init__(self, module: cuda.Module, fmt: gemm.Format, tile: gemm.Tile):
        cupy = cuda._cupy()
        self.module, self.fmt, self.tile = module, fmt, tile
        self.function = module.module.get_function(fmt.kernel)
        # Above 48 KB a block's dynamic shared memory must be asked for. get_function gives
        # a RawKernel, whose setter calls cuFuncSetAttribute on the CUfunction.
        self.function.max_dynamic_shared_size_bytes = tile.shared_bytes
        self.reduce = module.module.get_function("gemm_reduce_s32" if fmt.integer else "gemm_reduce_f32")
        self.status = cupy.zeros(1, dtype=cupy.uint32)

    def prepare(self, m: int, n: int, k: int, splits: int):
        """The output and split-K buffers of one problem, and the launch that fills them."""
        cupy = cuda._cupy()
        c = cupy.zeros((m, n), dtype=self.fmt.output_dtype)
        partial = cupy.zeros(splits * m * n, dtype=np.int32 if self.fmt.integer else np.float32) \
            if splits > 1 else None
        pitch, scale_pitch = gemm.leading_bytes(self.fmt, k), gemm.scale_pitch(self.fmt, k)
        grid = gemm.grid(self.tile, m, n, splits)
        # The kernel's cp.async copies need 16-byte rows, and an f16 sum is never split.
        assert pitch % 16 == 0 and (splits == 1 or self.fmt.splittable) and m > 0 and n > 0

        def launch(operands: Operands, stream=None) -> None:
            scales = [np.uint64(0) if s is None else s for s in (operands.a_scales, operands.b_scales)]
            self.function(grid, (self.tile.threads,),
                          (operands.a, operands.b, c, partial if partial is not None else np.uint64(0),
                           np.int32(m), np.int32(n), np.int32(gemm.k_bytes(self.fmt, k)), np.int64(pitch),
                           np.int64(pitch), np.int64(n), *scales, np.int64(scale_pitch), self.status),
                          shared_mem=self.tile.shared_bytes, stream=stream)
            if partial is not None:
                self.reduce(((n + REDUCE_BLOCK - 1) // REDUCE_BLOCK, m), (REDUCE_BLOCK,),
                            (partial, c, np.int32(m), np.int32(n), np.int32(splits), np.int64(n)), stream=stream)

        return c, launch

    def unsupported(self) -> bool:
        return int(self.status[0]) == peak.UNSUPPORTED


def options(target: str, fmt: gemm.Format, tile: gemm.Tile) -> tuple[str, ...]:
    """The build's options (gemm.build_options) for a target by name."""
    from smbench import targets as target_table

    return tuple(gemm.build_options(fmt, target_table.get(target), tile, shared_limit()))


def load(target: str, fmt: gemm.Format, tile: gemm.Tile) -> Gemm:
    return Gemm(cuda.load(gemm.KERNEL_FILE, target, options(target, fmt, tile)), fmt, tile)


def load_fallback(real_arch: str, fmt: gemm.Format, tile: gemm.Tile, native: str):
    """The kernel from compute_80 PTX, assembled for this GPU (see cuda_peak.load_fallback),
    holding the kernels of `native`'s build of this tile."""
    from smbench.families.peak import cuda as cuda_peak

    fallback = cuda_peak.load_fallback(gemm.KERNEL_FILE, real_arch, options(native, fmt, tile))
    return Gemm(fallback.module, fmt, tile), fallback


def result_rows(c, rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
    """C at the checked rows (and columns; None: every column), on the host."""
    cupy = cuda._cupy()
    picked = c[cupy.asarray(rows)]
    return cupy.asnumpy(picked if cols is None else picked[:, cupy.asarray(cols)])


# A GEMM call queues up to two kernels (split K adds the ordered reduce) and cuBLAS may
# queue a few: fewer calls per sample keep the blocking kernel's queue shallow.
CALLS_PER_SAMPLE = cuda.MAX_QUEUED // 4


def time_launch(launch, policy: TimingPolicy) -> Stats:
    """Back-to-back calls on a stream of their own (cuBLAS follows the current stream),
    queued behind the blocking kernel, enough per sample to last ~200 us."""
    cupy = cuda._cupy()
    stream = cupy.cuda.Stream(non_blocking=True)
    timer = cuda.DeviceTimer(stream)
    try:
        with stream:
            return cuda.time_calls(timer, launch, policy, most=CALLS_PER_SAMPLE)
    finally:
        timer.close()


# ---------------------------------------------------------------- cuBLAS

class Cublas:
    """cublasGemmEx on the same operands, or why it cannot run."""

    def __init__(self, fmt: gemm.Format, m: int, n: int, k: int):
        if fmt.cublas is None:
            raise SmbenchError(fmt.cublas_missing)
        cupy = cuda._cupy()
        try:
            from cupy_backends.cuda.libs import cublas
        except ImportError as exc:
            raise SmbenchError(f"CuPy's cuBLAS bindings are missing: {exc}") from None
        self.cublas, self.fmt, self.m, self.n, self.k = cublas, fmt, m, n, k
        self.handle = cupy.cuda.device.get_cublas_handle()
        scalar = {gemm.COMPUTE_32F: np.float32, gemm.COMPUTE_16F: np.float16, gemm.COMPUTE_32I: np.int32}
        compute = fmt.cublas[2]
        self.alpha = np.ones(1, dtype=scalar[compute])
        self.beta = np.zeros(1, dtype=scalar[compute])
        self.c = cupy.zeros((m, n), dtype=fmt.output_dtype)
        self.ld = gemm.leading_bytes(fmt, k) // fmt.element_bytes  # the padded pitch, in elements

    def launch(self, operands: Operands) -> None:
        data_type, c_type, compute = self.fmt.cublas
        self.cublas.gemmEx(self.handle, 1, 0, self.n, self.m, self.k, self.alpha.ctypes.data,
                           operands.b.data.ptr, data_type, self.ld, operands.a.data.ptr, data_type, self.ld,
                           self.beta.ctypes.data, self.c.data.ptr, c_type, self.n, compute, -1)


# ---------------------------------------------------------------- one case

# Of the free device memory, what one case may take (the rest: cuBLAS's workspace, the
# CUDA context, fragmentation).
MEMORY_SHARE = 0.8


def shared_limit() -> int | None:
    """The device's own opt-in limit of shared memory per block, or None (then the target
    table's: no CuPy or no GPU, as where smbench.prebuild plans for a device it is not on)."""
    try:
        runtime = cuda._cupy().cuda.runtime
        return int(runtime.deviceGetAttribute(runtime.cudaDevAttrMaxSharedMemoryPerBlockOptin, 0)) or None
    except Exception:  # noqa: BLE001 - an old CuPy without the attribute name, or no GPU
        return None


def builds(case, runner) -> list[cuda.Build]:
    """What a case compiles (smbench.prebuild): gemm.cu with the tile this format and M get on
    this target, and its compute_80 PTX assembled for the GPU where the suite times the
    fallback and sm_80 has the format."""
    from smbench import targets as target_table

    fmt = gemm.BY_KEY[case.params["format"]]
    target = target_table.get(runner.target)
    if gemm.gate(fmt, target)[0] == "skipped":
        return []
    built = options(runner.target, fmt, gemm.choose_tile(fmt, target, case.params["m"], shared_limit()))
    found = [cuda.Build(gemm.KERNEL_FILE, runner.target, built)]
    if runner.suite.section("gemm")["fallback"] and peak.fallback_absent(fmt) is None:
        found.append(cuda.Build(gemm.KERNEL_FILE, "compute_" + target_table.FALLBACK_PTX_TARGET[3:], built,
                                assemble_for=target.portable_real))
    return found


def _sass_summary(target: str, fmt: gemm.Format, tile: gemm.Tile) -> dict:
    """Registers, spills and the main loop's instruction counts of the build that runs."""
    from smbench import sass
    from smbench.compile import compile_file
    from smbench.paths import kernels_dir

    compiled = compile_file(kernels_dir() / gemm.KERNEL_FILE, target, options=options(target, fmt, tile))
    if not compiled.ok:
        raise SmbenchError(f"{gemm.KERNEL_FILE} does not compile for {target}: {compiled.first_error}")
    try:
        kernel = sass.summarize(compiled.cubin)[fmt.kernel]
    except SmbenchError as exc:
        return {"checked": False, "reason": str(exc)}
    return summary_of(kernel)


def summary_of(kernel) -> dict:
    loop = dict(kernel.main_loop())
    ok, detail = gemm.main_loop_check(loop)
    tensor = kernel.tensor_instructions
    return {"checked": True, "registers": kernel.registers, "local_bytes": kernel.local_bytes,
            "spill_instructions": kernel.spill_instructions, "instruction": tensor[0] if tensor else "",
            "main_loop_ok": ok, "main_loop": detail}


def _checked_of(c, rows, cols) -> np.ndarray:
    cuda._cupy().cuda.runtime.deviceSynchronize()
    return result_rows(c, rows, cols)


FORMATS = None  # the family's formats, gated by the target table
PLAN_NOTES: dict = {}


def held_to(runner, fmt: gemm.Format, policy: TimingPolicy) -> HeldTo:
    """The format's mma.sync loop rate (the peak family's, from earlier in the run or timed now)
    and its spec peaks."""
    return HeldTo(runner.part("peak").loop_rate(runner, fmt.peak_key, policy), peak.BY_KEY[fmt.peak_key].spec_keys)


def run_case(runner, fmt: gemm.Format, shape: gemm.Shape, policy: TimingPolicy, settings: dict) -> Outcome:
    """Gate, choose the tile, check exactly, check against float64, time; cuBLAS and the
    compute_80 build on the same inputs."""
    from smbench import targets as target_table

    target = target_table.get(runner.target)
    support, why = gemm.gate(fmt, target)
    if support == "skipped":
        return Outcome("skipped", why)
    tile = gemm.choose_tile(fmt, target, shape.m, shared_limit())
    splits = gemm.split_k(fmt, tile, shape.m, shape.n, shape.k, runner.facts.sm_count)
    # What CuPy's pool keeps from earlier cases is free for this one.
    cuda._cupy().get_default_memory_pool().free_all_blocks()
    # On unified memory the operating system's MemAvailable where cudaMemGetInfo reads less.
    need = gemm.footprint(fmt, shape, splits)
    free = cuda.usable_free_bytes(cuda.free_bytes(), bool(runner.info.get("unified_memory")))[0]
    if need > MEMORY_SHARE * free:
        return Outcome("skipped", f"needs {need / 2**30:.1f} GiB of device memory, {free / 2**30:.1f} GiB free")
    summary = _sass_summary(runner.target, fmt, tile)
    fields = {"support": support, "support_note": why, "tile": gemm.tile_record(fmt, tile), "splits": splits,
              "sass": summary,
              "instruction": summary.get("instruction", "")}
    kernel = load(runner.target, fmt, tile)
    fields.update(kernel.module.provenance)
    outcome = Outcome(fields=fields)
    rng = np.random.default_rng(gemm.SEED)
    rows, cols = gemm.check_rows(shape.m, rng), gemm.check_columns(shape.n, rng, shape.m)

    # 1. Exact: -1/0/1 inputs, every checked value equal to the integer product.
    exact_in = Operands.draw(fmt, shape, gemm.SEED + 1, exact=True)
    c, launch = kernel.prepare(shape.m, shape.n, shape.k, splits)
    launch(exact_in)
    got = _checked_of(c, rows, cols)
    if kernel.unsupported():
        return outcome.failed("the kernel reported the format unsupported on this target")
    exact = gemm.validate_exact(fmt, got, *exact_in.sample(rows, cols), rows, cols, sampled=True)
    fields["validation"] = {"exact": exact.to_dict(), "inputs": f"drawn {exact_in.drawn}"}
    del exact_in
    if not exact.ok:
        return outcome.failed(f"validation failed: {exact.detail}")

    # 2. Random inputs against float64 within the error bound; these are the timed inputs.
    operands = Operands.draw(fmt, shape, gemm.SEED + 2, exact=False)
    launch(operands)
    ref = gemm.reference(fmt, *operands.sample(rows, cols), rows, cols, sampled=True)
    checked, errors = gemm.validate_random(fmt, _checked_of(c, rows, cols), ref, splits)
    fields["validation"]["random"] = checked.to_dict()
    fields["error"] = errors
    if not checked.ok:
        return outcome.failed(f"validation failed: {checked.detail}")

    with runner.sampler() as sampler:
        outcome.stats = time_launch(lambda: launch(operands), policy)
    outcome.telemetry = sampler.summary
    outcome.cublas = _cublas(fmt, shape, operands, ref, policy) if settings["cublas"] else \
        {"status": "not run", "reason": "the suite turned cuBLAS off"}
    outcome.fallback = _fallback(runner, fmt, shape, tile, splits, operands, ref, policy) \
        if settings["fallback"] else {"status": "not run", "reason": "the suite turned the fallback off"}
    return outcome


def _cublas(fmt: gemm.Format, shape: gemm.Shape, operands: Operands, ref: gemm.Reference, policy) -> dict:
    """cuBLAS on the same inputs: its time, and its error against float64 beside ours."""
    try:
        library = Cublas(fmt, shape.m, shape.n, shape.k)
        library.launch(operands)
        checked, errors = gemm.validate_random(fmt, _checked_of(library.c, ref.rows, ref.cols), ref, 1)
        if not checked.ok:  # a wrong call (layout, types) must not become a ratio
            return {"status": "failed", "reason": f"cuBLAS's result failed validation: {checked.detail}",
                    "error": errors}
        stats = time_launch(lambda: library.launch(operands), policy)
    except SmbenchError as exc:
        return {"status": "not run", "reason": str(exc)}
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a type combination this cuBLAS refuses, say
        return {"status": "failed", "reason": one_line(exc)}
    return {"status": "ok", "time_s": stats.to_dict(), "tflops": shape.ops / stats.median / 1e12, "error": errors,
            "validation": checked.to_dict()}


def _fallback(runner, fmt: gemm.Format, shape: gemm.Shape, tile: gemm.Tile, splits: int, operands: Operands,
              ref: gemm.Reference, policy) -> dict:
    """The same GEMM from compute_80 PTX, as software shipping only sm_80 code runs here."""
    from smbench import targets as target_table

    absent = peak.fallback_absent(fmt)
    if absent is not None:
        return absent
    try:
        kernel, built = load_fallback(target_table.get(runner.target).portable_real, fmt, tile, runner.target)
        found = built.sass.get(fmt.kernel) if built.sass is not None else None
        summary = summary_of(found) if found is not None else {
            "checked": False, "reason": built.sass_reason or f"no SASS for {fmt.kernel} in the cubin"}
        c, launch = kernel.prepare(shape.m, shape.n, shape.k, splits)
        launch(operands)
        checked, _ = gemm.validate_random(fmt, _checked_of(c, ref.rows, ref.cols), ref, splits)
        if not checked.ok:
            return {"status": "failed", "reason": f"validation failed: {checked.detail}", "how": built.how}
        stats = time_launch(lambda: launch(operands), policy)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a driver that cannot JIT the PTX, say
        return {"status": "failed", "reason": one_line(exc)}
    return {"status": "ok", "how": built.how, "sass": summary, "time_s": stats.to_dict(),
            "tflops": shape.ops / stats.median / 1e12}
