"""The stream family through MLX: BabelStream's operations as MLX operations (every MLX
device), and on Metal also as mx.fast.metal_kernel kernels at each access width (macOS only;
elsewhere a skipped row that says why).

MLX is lazy, so a timed sample records `reps` calls, each writing a fresh output, and
evaluates all of them inside the sample (smbench.backends.mlx.time_calls). The last sample's
outputs are then checked one by one: each must be its own array (a call that handed back one
result again did no work) and hold the reference values, so work that was never computed
cannot pass as a figure.
"""

from __future__ import annotations

import functools

import numpy as np

from smbench.backends import mlx as backend
from smbench.cases import NO_KERNEL, Case, Skip, Validation
from smbench.families import stream
from smbench.telemetry import Summary
from smbench.timing import Stats, TimingPolicy

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
    home = runner.memory_kinds()[0][0]
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

def run_case(runner, op: str, dtype: str, width: int, kind: str, elements: int,
             policy: TimingPolicy, path: str = "mlx") -> tuple[Stats, Validation, dict, Summary, dict]:
    """(times, validation, how it ran, telemetry, kernel provenance) of one operation."""
    mx = backend.mx()
    if dtype == "f64" and runner.metal:
        raise Skip("Metal has no float64: MLX runs f64 only on its CPU device")
    inputs = prepare(op, dtype, elements)
    call = metal_call(op, dtype, width, elements, inputs) if path == "metal" else mlx_call(op, dtype, inputs, elements)
    operation = stream.OPERATIONS[op]
    out_bytes = 8 if operation.reduction else elements * stream.DTYPES[dtype](0).itemsize
    reps = backend.per_sample(out_bytes)
    kept: list = []
    with runner.sampler() as sampler:
        stats = backend.time_calls(call, reps, policy, kept)
    validation = validate(op, dtype, elements, kept, path)
    how = {"backend": "mlx", "device": runner.info["device"], "calls_per_sample": reps,
           "path": "mlx operations" if path == "mlx" else f"mx.fast.metal_kernel, {width}-byte accesses",
           "mlx_version": getattr(mx, "__version__", "?")}
    return stats, validation, how, sampler.summary, NO_KERNEL


def prepare(op: str, dtype: str, elements: int) -> dict:
    """The operation's input arrays, made from the index patterns and evaluated before timing."""
    mx = backend.mx()
    np_type = stream.DTYPES[dtype]
    index = np.arange(elements, dtype=np.int64)
    arrays = {name: mx.array(stream.pattern(name, index, np_type)) for name in stream.OPERATIONS[op].reads}
    backend.evaluate(list(arrays.values()))
    return arrays


def mlx_call(op: str, dtype: str, x: dict, elements: int):
    """The i-th call of the operation as MLX operations (each returns a fresh array)."""
    mx = backend.mx()
    kind = getattr(mx, MLX_DTYPES[dtype])
    s = mx.array(stream.SCALAR, dtype=kind)
    return {
        "copy": lambda i: mx.array(x["a"]),  # a new array holding a's values: a read and a write
        "scale": lambda i: s * x["c"],
        "add": lambda i: x["a"] + x["b"],
        "triad": lambda i: x["b"] + s * x["c"],
        "dot": lambda i: mx.inner(x["a"], x["b"]),
        "read": lambda i: mx.sum(x["a"]),
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
        threads = min(REDUCTION_THREADS, -(-packs // THREADGROUP) * THREADGROUP)
        shape, out_type = (threads,), kind
    else:
        threads, shape, out_type = -(-packs // THREADGROUP) * THREADGROUP, (elements,), kind

    def call(i):
        return kernel(inputs=arguments, grid=(threads, 1, 1), threadgroup=(THREADGROUP, 1, 1),
                      output_shapes=[shape], output_dtypes=[out_type])[0]
    return call


# ---------------------------------------------------------------- validation

def validate(op: str, dtype: str, elements: int, outputs: list, path: str) -> Validation:
    """Every output of the last timed sample: its own array, and the reference values (each
    reduction within its bound; the last written array at the CPU path's indices, each other
    at a few hundred)."""
    if not outputs:
        return Validation(False, 0, "no timed output to check")
    distinct = len({id(o) for o in outputs})
    if distinct != len(outputs):
        return Validation(False, 0, f"the {len(outputs)} timed calls of a sample returned {distinct} distinct "
                                    f"arrays: a call that hands back an earlier result did no work")
    np_type = stream.DTYPES[dtype]
    if stream.OPERATIONS[op].reduction:
        checks = []
        for output in outputs:
            # MLX does not say in what order it adds; any order of n terms of one sign errs by at
            # most (n - 1) roundings, the bound of one thread adding them all (threads = 1).
            total = float(backend.to_numpy(output).astype(np.float64).sum())
            checks.append(stream.validate_sum(op, np_type, elements, total, 1))
            if not checks[-1].ok:
                return checks[-1]
        return Validation(True, elements * len(outputs), f"{len(outputs)} timed results, each {checks[-1].detail}",
                          max(c.max_abs_error for c in checks), checks[-1].tolerance)
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
