"""The stream family through MLX: BabelStream's operations as MLX operations (every MLX
device), and on Metal also as mx.fast.metal_kernel kernels at each access width (macOS only;
elsewhere a skipped row that says why).

Each elementwise operation is one mx.compile'd function, so MLX runs it as one fused kernel
(triad without it is a multiply and an add through a full-size temporary: 5 arrays' traffic
for 3 counted). dot and read are taken in rows of stream.ROW_TERMS terms, one partial each (a
batched (R,1,K)@(R,K,1) matmul; a row sum), so the device reduces in parallel and each
partial is checked against a row's rounding bound.

MLX is lazy, so a timed sample queues `reps` calls with mx.async_eval, each writing a fresh
output, and ends with a synchronize (smbench.backends.mlx.time_calls); it holds the last few
outputs (SAMPLE_BYTES' worth, at least two). Those are then checked one by one: each must be
its own array (a call that handed back one result again did no work) and hold the reference
values, so work that was never computed cannot pass as a figure.
"""

from __future__ import annotations

import functools

import numpy as np

from smbench.backends import mlx as backend
from smbench.cases import NO_KERNEL, Case, Skip, Validation
from smbench.families import stream
from smbench.families.stream.part import Measured, Work
from smbench.timing import TimingPolicy

MLX_DTYPES = {"f32": "float32", "f64": "float64"}
METAL_TYPES = {"f32": "float", "f64": "double"}
THREADGROUP = 256
REDUCTION_THREADS = 1 << 14  # a grid-stride reduction's threads, each writing one partial sum
ELEMENTS_CHECKED_PER_OUTPUT = 256  # of each output before the last (the last is checked like the CPU path's)


# ---------------------------------------------------------------- the plan on this backend

def kernel_label(op: str, dtype: str, width: int | None) -> str:
    """The record's kernel: an MLX operation, or the Metal kernel at an access width."""
    return f"mlx_{op}_{dtype}" if width is None else f"metal_{op}_{dtype}_v{width}"


def plan_cases(section: dict, sizes: list[int], runner) -> list[Case]:
    """Every operation and type through MLX operations over the sweep; then the Metal kernels at
    each width the suite names (on Metal), or one skipped row per width saying why not."""
    home = runner.home_memory
    cases = []
    for dtype in section.get("dtypes", ["f32"]):
        for op in section.get("operations", []):
            for size in sizes:
                cases.append(Case("stream", op, f"{op} {dtype} mlx {size // 1024} KiB {home}",
                                  {"op": op, "dtype": dtype, "width": stream.DTYPES[dtype](0).itemsize,
                                   "memory": home, "working_set": size, "path": "mlx",
                                   "kernel": kernel_label(op, dtype, None)}))
        for width in section.get("widths", [16]):
            if width not in stream.WIDTHS[dtype]:
                continue
            if not runner.metal:
                cases.append(Case("stream", "metal kernels", f"Metal kernels {dtype} {width}B",
                                  {"op": "metal kernels", "dtype": dtype, "width": width, "memory": home,
                                   "working_set": 0, "path": "metal", "offered": False,
                                   "kernel": f"metal_*_{dtype}_v{width}",
                                   "why": "mx.fast.metal_kernel runs only on macOS with Metal; this is MLX's CPU "
                                          "device"}))
                continue
            for op in section.get("operations", []):
                for size in sizes:
                    cases.append(Case("stream", op, f"{op} {dtype} {width}B metal {size // 1024} KiB {home}",
                                      {"op": op, "dtype": dtype, "width": width, "memory": home,
                                       "working_set": size, "path": "metal", "kernel": kernel_label(op, dtype, width)}))
    return cases


# ---------------------------------------------------------------- one case

def run_case(runner, work: Work, policy: TimingPolicy) -> Measured:
    """The operation as MLX operations or (path "metal") a Metal kernel at the work's width."""
    op, dtype, width, elements, path = work.op, work.dtype, work.width, work.elements, work.path or "mlx"
    mx = backend.mx()
    if dtype == "f64" and runner.metal:
        raise Skip("Metal has no float64: MLX runs f64 only on its CPU device")
    inputs = prepare(op, dtype, elements)
    call = metal_call(op, dtype, width, elements, inputs) if path == "metal" else mlx_call(op, dtype, inputs, elements)
    operation = stream.OPERATIONS[op]
    out_bytes = 8 * elements // stream.row_terms(elements) if operation.reduction else \
        elements * stream.DTYPES[dtype](0).itemsize
    kept: list = []
    with runner.sampler() as sampler:
        reps = backend.reps_for(backend.pilot_seconds(call))
        stats = backend.time_calls(call, reps, policy, kept, window=backend.in_flight(out_bytes))
    validation = validate(op, dtype, elements, kept, path, width)
    how = {"backend": "mlx", "device": runner.info["device"], "calls_per_sample": reps,
           "outputs_checked": len(kept),
           "path": "mlx operations" if path == "mlx" else f"mx.fast.metal_kernel, {width}-byte accesses",
           "mlx_version": getattr(mx, "__version__", "?")}
    if path == "mlx":
        how.update(timed_graph(op, call))
    return Measured(stats, validation, how, sampler.summary, NO_KERNEL)


def timed_graph(op: str, call) -> dict:
    """What MLX runs for one call: its primitives, and for an elementwise operation whether
    mx.compile fused it into one kernel. (On MLX's CPU device fusing needs a C++ compiler
    at run time, g++ on Linux; without one MLX runs the operations unfused, and says so here.)"""
    primitives = backend.primitives(call(0))
    how = {"primitives": primitives}
    if op in COMPILED:
        how["fused"] = len(primitives) == 1  # one kernel: 'Compiled...' (add is one primitive already)
        if not how["fused"]:
            how["note"] = ("MLX did not fuse this operation (on its CPU device fusing needs g++ at run time): "
                           "its temporaries move bytes the GB/s does not count")
    return how


def prepare(op: str, dtype: str, elements: int) -> dict:
    """The operation's input arrays, made from the index patterns and evaluated before timing."""
    mx = backend.mx()
    np_type = stream.DTYPES[dtype]
    index = np.arange(elements, dtype=np.int64)
    kind = getattr(mx, MLX_DTYPES[dtype])  # said outright: mx.array makes float32 of NumPy's float64
    arrays = {name: mx.array(stream.pattern(name, index, np_type), dtype=kind) for name in stream.OPERATIONS[op].reads}
    if stream.OPERATIONS[op].reduction:
        # the rows the reduction is taken in (views of the same memory, made before timing)
        row = stream.row_terms(elements)
        arrays["rows_a"] = arrays["a"].reshape(elements // row, 1, row)
        if "b" in arrays:
            arrays["rows_b"] = arrays["b"].reshape(elements // row, row, 1)
    backend.evaluate(list(arrays.values()))
    return arrays


# The elementwise operations, each compiled into one fused MLX kernel (the scalar an input,
# so one compiled kernel serves every call).
COMPILED = {
    "scale": lambda s, c: s * c,
    "add": lambda a, b: a + b,
    "triad": lambda b, c, s: b + s * c,
}


@functools.lru_cache(maxsize=None)
def compiled(op: str):
    return backend.mx().compile(COMPILED[op])


def mlx_call(op: str, dtype: str, x: dict, elements: int):
    """The i-th call of the operation as MLX operations (each returns a fresh array)."""
    mx = backend.mx()
    kind = getattr(mx, MLX_DTYPES[dtype])
    s = mx.array(stream.SCALAR, dtype=kind)
    mx.eval(s)
    return {
        "copy": lambda i: mx.array(x["a"]),  # a new array holding a's values: a read and a write
        "scale": lambda i: compiled("scale")(s, x["c"]),
        "add": lambda i: compiled("add")(x["a"], x["b"]),
        "triad": lambda i: compiled("triad")(x["b"], x["c"], s),
        # one partial per row: R independent 1xK by Kx1 products (a batched gemv, R threadgroups
        # on Metal), not one K-long inner product that one threadgroup would read alone
        "dot": lambda i: mx.matmul(x["rows_a"], x["rows_b"]).reshape(-1),
        "read": lambda i: mx.sum(x["rows_a"], axis=(1, 2)),
        "write": lambda i: mx.full((elements,), stream.SCALAR, dtype=kind),
    }[op]


@functools.lru_cache(maxsize=None)
def _metal_kernel(op: str, dtype: str, width: int):
    """A Metal kernel for the operation at `width` bytes per access (macOS only)."""
    mx = backend.mx()
    scalar = METAL_TYPES[dtype]
    lanes = width // stream.DTYPES[dtype](0).itemsize
    vector = scalar if lanes == 1 else f"{scalar}{lanes}"
    operation = stream.OPERATIONS[op]
    inputs = list(operation.reads) + (["s"] if operation.scalar and op != "write" else []) + ["packs"]
    if op == "write":
        inputs = ["s", "packs"]
    load = "".join(f"const device {vector}* {n}v = (const device {vector}*){n};\n" for n in operation.reads)
    if operation.reduction:
        term = {"read": "av[p]", "dot": "av[p] * bv[p]"}[op]
        total = "acc" if lanes == 1 else " + ".join(f"acc[{k}]" for k in range(lanes))
        body = (f"{load}{vector} acc = {vector}(0);\n"
                "for (uint p = thread_position_in_grid.x; p < packs[0]; p += threads_per_grid.x) {\n"
                f"  acc += {term};\n}}\n"
                f"out[thread_position_in_grid.x] = {total};\n")
    else:
        value = {"copy": "av[i]", "scale": "s[0] * cv[i]", "add": "av[i] + bv[i]", "triad": "bv[i] + s[0] * cv[i]",
                 "write": f"{vector}(s[0])"}[op]
        body = (f"{load}device {vector}* outv = (device {vector}*)out;\n"
                "uint i = thread_position_in_grid.x;\n"
                f"if (i < packs[0]) {{ outv[i] = {value}; }}\n")
    return mx.fast.metal_kernel(name=f"smbench_{kernel_label(op, dtype, width)}", input_names=inputs,
                                output_names=["out"], source=body)


def metal_call(op: str, dtype: str, width: int, elements: int, x: dict):
    mx = backend.mx()
    kind = getattr(mx, MLX_DTYPES[dtype])
    kernel = _metal_kernel(op, dtype, width)
    lanes = width // stream.DTYPES[dtype](0).itemsize
    packs = elements // lanes
    operation = stream.OPERATIONS[op]
    arguments = [x[n] for n in operation.reads]
    if operation.scalar:
        arguments.append(mx.array([stream.SCALAR], dtype=kind))
    arguments.append(mx.array([packs], dtype=mx.uint32))
    if operation.reduction:
        threads = metal_threads(op, dtype, width, elements)
        shape, out_type = (threads,), kind
    else:
        threads, shape, out_type = -(-packs // THREADGROUP) * THREADGROUP, (elements,), kind

    def call(i):
        return kernel(inputs=arguments, grid=(threads, 1, 1), threadgroup=(THREADGROUP, 1, 1),
                      output_shapes=[shape], output_dtypes=[out_type])[0]
    return call


def metal_threads(op: str, dtype: str, width: int, elements: int) -> int:
    """Threads of a Metal reduction kernel, each writing one partial sum."""
    packs = elements // (width // stream.DTYPES[dtype](0).itemsize)
    return min(REDUCTION_THREADS, -(-packs // THREADGROUP) * THREADGROUP)


# ---------------------------------------------------------------- validation

def validate(op: str, dtype: str, elements: int, outputs: list, path: str, width: int = 16) -> Validation:
    """Every output the last timed sample held: its own array, and the reference values (the
    MLX path's reductions row by row, each row within a row's bound; a Metal kernel's
    partials, one per thread at `width` bytes per access, added in float64 within the bound
    of that many threads; the last written array at the CPU path's indices, each other at a
    few hundred)."""
    if not outputs:
        return Validation(False, 0, "no timed output to check")
    distinct = len({id(o) for o in outputs})
    if distinct != len(outputs):
        return Validation(False, 0, f"the {len(outputs)} timed calls of a sample returned {distinct} distinct "
                                    f"arrays: a call that hands back an earlier result did no work")
    np_type = stream.DTYPES[dtype]
    if stream.OPERATIONS[op].reduction:
        if path == "metal":
            return validate_partials_total(op, np_type, elements, outputs, metal_threads(op, dtype, width, elements))
        return validate_rows(op, np_type, elements, outputs)
    rng = np.random.default_rng(1)
    for number, output in enumerate(outputs):
        last = number == len(outputs) - 1
        index = stream.check_indices(elements) if last else np.unique(np.concatenate(
            [np.arange(min(elements, 64)), np.arange(max(0, elements - 64), elements),
             rng.integers(0, elements, ELEMENTS_CHECKED_PER_OUTPUT - 128)])).astype(np.int64)
        values = backend.to_numpy(output).reshape(-1)
        if values.size != elements:
            return Validation(False, 0, f"timed call {number + 1} wrote {values.size} elements, not {elements}")
        checked = stream.validate_elements(op, np_type, index, values[index])
        if not checked.ok:
            return Validation(False, checked.checked, f"timed call {number + 1} of {len(outputs)}: {checked.detail}",
                              checked.max_abs_error)
    return Validation(True, elements, f"{len(outputs)} timed outputs each its own array; the last's {len(index)} "
                                      f"checked elements exact, {ELEMENTS_CHECKED_PER_OUTPUT} of each other")


def validate_rows(op: str, np_type, elements: int, outputs: list) -> Validation:
    """Each output must hold one partial per row, each within the bound of adding a row's
    terms in any order (MLX does not say in what order it adds; n terms of one sign err by
    at most n - 1 roundings): a sum that skipped part of the array fails its rows."""
    row = stream.row_terms(elements)
    want = stream.expected_row_sums(op, elements, row)
    tolerance = stream.reduction_tolerance(op, np_type, row, 1)
    worst = 0.0
    for number, output in enumerate(outputs):
        got = backend.to_numpy(output).astype(np.float64).reshape(-1)
        where = f"timed call {number + 1} of {len(outputs)}"
        if got.size != want.size:
            return Validation(False, 0, f"{where} gave {got.size} partial sums, not {want.size} (rows of {row})")
        relative = np.abs(got - want) / want
        bad = ~(relative <= tolerance)  # NaN is bad too
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            return Validation(False, elements, f"{where}: {int(bad.sum())} of {want.size} row sums beyond "
                                               f"{tolerance:.1e}; row {first}: got {got[first]!r}, want {want[first]!r}",
                              float(np.nanmax(np.abs(got - want))), tolerance)
        worst = max(worst, float(relative.max()))
    return Validation(True, elements * len(outputs), f"{len(outputs)} timed results of {want.size} row sums "
                      f"({row} terms each): largest relative error {worst:.2e} (within {tolerance:.1e})",
                      worst, tolerance)


def validate_partials_total(op: str, np_type, elements: int, outputs: list, threads: int) -> Validation:
    """A Metal kernel's per-thread partials (one per thread), added in float64 on the host,
    within the bound of `threads` threads each adding its share in the element type."""
    checks = []
    for number, output in enumerate(outputs):
        partials = backend.to_numpy(output).astype(np.float64).reshape(-1)
        if partials.size != threads:
            return Validation(False, 0, f"timed call {number + 1} of {len(outputs)} gave {partials.size} partial "
                                        f"sums, not one per thread ({threads})")
        checks.append(stream.validate_sum(op, np_type, elements, float(partials.sum()), threads))
        if not checks[-1].ok:
            return checks[-1]
    return Validation(True, elements * len(outputs), f"{len(outputs)} timed results, each {checks[-1].detail}",
                      max(c.max_abs_error for c in checks), checks[-1].tolerance)
