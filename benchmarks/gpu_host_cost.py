"""What the quick suite costs the HOST on an H200, measured on this machine without a GPU.

`make gpu-check` has minutes of GPU time; a run whose Python keeps the GPU waiting loses
them. This plans the quick suite exactly as an H200 would (the device table's H200 row: 132
SMs, 50 MiB L2, sm_90a, every case the plan makes, the shapes, formats and case counts
that follow) and runs every host-side part of it as the GPU run does, with stand-ins only
for what the GPU would compute (the stand-ins' own time is not counted):

  prebuild   every build the plan needs from a cold cache: NVRTC, nvJitLink, cuobjdump
             (smbench.prebuild, as gpu-check's step runs it, on --jobs threads)
  stream     the host's fills of memory the CPU owns (managed, pinned) and every validation
  transfer   the host buffers' fills and the validations
  peak       inputs, exact validation of each loop and of its fallback, the SASS check
  precision  probe packing (the words the kernel reads), the fit, the GEMM error rows
  gemm       the sampled rows and columns read back, the exact check, the float64
             reference and the checks of ours, cuBLAS's and the fallback's result
  latency    the ring's definition checks and the CPU's walks of every chain
  results    the result file rewritten after every case (records of realistic size)

Not counted: collectives (their checks run on the GPU through CuPy), CuPy's own first
compiles of its elementwise kernels, driver calls (allocation, pinning), Python start-up.

    .venv/bin/python benchmarks/gpu_host_cost.py            # prints `host-side seconds: N` last
    .venv/bin/python benchmarks/gpu_host_cost.py --jobs 16  # as the 16-core GPU machine would prebuild

The 2 development cores are shared: the wall time is the figure; the CPU time beside it
says how much of it was this process's own work.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# A cold compile cache of our own, before smbench reads where its cache is.
_CACHE = Path(tempfile.mkdtemp(prefix="smbench-host-cost-"))
os.environ["SMBENCH_CACHE_DIR"] = str(_CACHE)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from smbench import devices, prebuild, run, suites, tensor_core_models  # noqa: E402
from smbench import targets as target_table  # noqa: E402
from smbench.backends import cuda  # noqa: E402
from smbench.backends.facts import DeviceFacts, blocks_per_sm_limit  # noqa: E402
from smbench.families import gemm, latency, peak, precision, stream  # noqa: E402
from smbench.families.stream import cuda as stream_cuda  # noqa: E402
from smbench.results import ResultWriter  # noqa: E402
from smbench.telemetry import Sample, Summary  # noqa: E402
from smbench.timing import summarize  # noqa: E402

GIB = 1 << 30


def h200_facts() -> DeviceFacts:
    """The H200 as the driver would describe it: SMs, L2 and compute capability from the device
    table's row; 141 GB HBM3e (NVIDIA's datasheet, shared/facts.md); an x86 host, so managed
    and mapped memory but no pageable access (no HMM), as on the H100 of tests/device_data.py."""
    row = devices.by_key("h200")
    return DeviceFacts(name="NVIDIA H200", compute_capability=row.compute_capability, sm_count=row.sm_count,
                       max_threads_per_sm=2048, l2_bytes=row.l2_bytes, total_bytes=141 * 10**9, integrated=False,
                       managed_memory=True, concurrent_managed_access=True, can_map_host_memory=True,
                       pageable_memory_access=False, memory_clock_khz=None, bus_width_bits=None)


class Ledger:
    """Wall and CPU seconds per part; only what runs inside `part()` is counted."""

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.cases: dict[str, int] = defaultdict(int)

    @staticmethod
    def _cpu() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    @contextmanager
    def part(self, name: str):
        wall, cpu = time.perf_counter(), self._cpu()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += self._cpu() - cpu


# ---------------------------------------------------------------- per family, as the GPU path does it

def stream_case(ledger: Ledger, case, runner) -> None:
    p = case.params
    if case.skip:
        return
    dtype = stream.DTYPES[p["dtype"]]
    elements = stream.elements_for(p["op"], p["working_set"], np.dtype(dtype).itemsize, p["width"])
    operation = stream.OPERATIONS[p["op"]]
    host_kind = p["memory"] != "device"
    arrays = {name: np.empty(elements, dtype=dtype) for name in operation.arrays} if host_kind else {}
    index = stream.check_indices(elements)
    got = None if operation.reduction else stream.expected_elements(p["op"], index, dtype)  # the GPU's answer
    with ledger.part("stream"):
        if host_kind:  # stream_cuda.prepare: the CPU writes memory that lives on the host
            for name in operation.reads:
                stream_cuda.fill_pattern_on_host(arrays[name], name)
            if operation.writes:
                arrays[operation.writes][:] = dtype(stream.SENTINEL)
        if operation.reduction:
            threads = 132 * 8 * 256
            stream.validate_sum(p["op"], dtype, elements, stream.expected_sum(p["op"], elements), threads)
        else:
            stream.check_indices(elements)
            stream.validate_elements(p["op"], dtype, index, got)
    del arrays


def transfer_case(ledger: Ledger, case, runner) -> None:
    p = case.params
    elements = p["bytes"] // 4
    host = np.empty(elements, dtype=np.float32) if p["direction"] != "d2d" else None
    index = stream.check_indices(elements)
    got = stream.expected_elements("copy", index, np.float32)
    with ledger.part("transfer"):
        if p["direction"] == "h2d":
            stream_cuda.fill_pattern_on_host(host, "a")
        elif p["direction"] == "d2h":
            host[:] = np.nan
        stream.validate_elements("copy", np.float32, stream.check_indices(elements), got)


def peak_case(ledger: Ledger, case, runner) -> None:
    from smbench import sass
    from smbench.compile import compile_file
    from smbench.paths import kernels_dir

    fmt = peak.BY_KEY[case.params["format"]]
    support, _ = peak.gate(fmt, target_table.get(runner.target))
    if support == "skipped":
        return
    runs = 2 if runner.suite.section("peak")["fallback"] and peak.fallback_compiles(fmt) else 1
    answer = peak.expected_values(fmt, peak.VALIDATION_ITERS, 32).astype(peak.output_dtype(fmt)) \
        if fmt.accumulator != "bf16" else None
    with ledger.part("peak"):
        histogram = dict(sass.summarize(compile_file(kernels_dir() / fmt.file, runner.target).cubin)[fmt.kernel]
                         .histogram)
        peak.loop_intact(fmt, histogram, emulated=support == "emulated")
        for _ in range(runs):  # the native loop, then its fallback
            peak.mma_inputs(fmt) if fmt.unit == "tensor" else peak.fma_inputs(fmt)
            peak.mma_inputs(fmt, timing=True) if fmt.unit == "tensor" else None
            if answer is not None:
                peak.validate(fmt, answer, peak.VALIDATION_ITERS, 32)


def _standin_model(fmt, target) -> object:
    """What the H200 would answer: H100's published model (the same tensor cores), and for the
    FP8 mma.sync that ptxas builds from HMMAs on sm_90 the model of that build."""
    if target.support(fmt.feature) == target_table.EMULATED:
        return tensor_core_models.sm90_fp8_mma(fmt.accumulator)
    return precision.cpu_model("H100", fmt)[0]


def precision_case(ledger: Ledger, case, runner) -> None:
    fmt = precision.BY_KEY[case.params["format"]]
    target = target_table.get(runner.target)
    if not target.has(fmt.feature):
        return
    model = _standin_model(fmt, target)
    standin = {"s": 0.0}

    def device(fmt, a, b, c, scales=None):  # cuda.device(): pack (counted), the GPU answers (not)
        stacks = precision.tiles(fmt, a, b, c)
        precision.pack_problems(fmt, *stacks, precision.stacked_scales(fmt, len(c), scales))
        started = time.perf_counter()
        answer = precision.emulator_device(model)(fmt, a, b, c, scales)
        standin["s"] += time.perf_counter() - started
        return answer

    def device_gemm(fmt, a, b):
        precision.pack_problems(fmt, a[None], b[None], np.zeros((1, precision.M, precision.N)))
        started = time.perf_counter()
        answer = precision.emulator_gemm(model)(fmt, a, b)
        standin["s"] += time.perf_counter() - started
        return answer

    with ledger.part("precision"):
        ones = np.ones((1, fmt.k))
        device(fmt, ones, ones, np.zeros(1))
        fitted = precision.fit(fmt, device)
        kind, like = precision.likeness(fitted.published)
        published = tensor_core_models.model_of(like[0]["gpu"], fmt.input_format, fmt.accumulator) if like else None
        precision.gemm_errors(fmt, device_gemm, fitted.model, case.params["gemm_ks"], published=published)
    ledger.wall["precision"] -= standin["s"]  # the GPU's answers are not the host's work
    ledger.cpu["precision"] -= standin["s"]


def gemm_case(ledger: Ledger, case, runner) -> None:
    from smbench.compile import compile_file
    from smbench.families.gemm import cuda as cuda_gemm
    from smbench.paths import kernels_dir

    p = case.params
    fmt = gemm.BY_KEY[p["format"]]
    target = target_table.get(runner.target)
    if gemm.gate(fmt, target)[0] == "skipped":
        return
    shape = gemm.Shape(p["m"], p["n"], p["k"], p["shape_kind"])
    tile = gemm.choose_tile(fmt, target, shape.m)
    splits = gemm.split_k(fmt, tile, shape.m, shape.n, shape.k, runner.facts.sm_count)
    settings = runner.suite.section("gemm")
    results = 1 + (settings["cublas"] and fmt.cublas is not None) + (settings["fallback"]
                                                                      and peak.fallback_absent(fmt) is None)
    # What the GPU holds, read back for the checks: the sampled rows of A and B (drawn here
    # by the stand-in, not counted), and C at those rows and columns (computed, not counted).
    standin = np.random.default_rng(7)
    rng = np.random.default_rng(gemm.SEED)
    rows, cols = gemm.check_rows(shape.m, rng), gemm.check_columns(shape.n, rng, shape.m)
    density = gemm.exact_density(fmt, shape.k)
    exact_a = gemm.exact_operand(fmt, len(rows), shape.k, standin, density)
    exact_b = gemm.exact_operand(fmt, len(cols), shape.k, standin)
    exact_c = (gemm.decode(fmt, exact_a) @ gemm.decode(fmt, exact_b).T).astype(fmt.output_dtype)
    random_a = gemm.random_operand(fmt, len(rows), shape.k, standin)
    random_b = gemm.random_operand(fmt, len(cols), shape.k, standin)
    random_c = (gemm.decode(fmt, random_a) @ gemm.decode(fmt, random_b).T).astype(fmt.output_dtype)
    with ledger.part("gemm"):
        cuda_gemm._sass_summary(runner.target, fmt, tile)  # the build's SASS, from the cache prebuild filled
        compile_file(kernels_dir() / gemm.KERNEL_FILE, runner.target,  # load(): the cubin, from the cache
                     options=cuda_gemm.options(runner.target, fmt, tile))
        rng = np.random.default_rng(gemm.SEED)
        rows, cols = gemm.check_rows(shape.m, rng), gemm.check_columns(shape.n, rng, shape.m)
        for a, b, exact in ((exact_a, exact_b, True), (random_a, random_b, False)):
            gemm.inputs_wrong(fmt, np.array(a[:4]), np.array(b[:4]), exact)  # the draw's probe, read back
        got = np.array(exact_c)  # the device-to-host copy of the checked block
        gemm.validate_exact(fmt, got, np.array(exact_a), np.array(exact_b), rows, cols, sampled=True)
        ref = gemm.reference(fmt, np.array(random_a), np.array(random_b), rows, cols, sampled=True)
        for _ in range(results):  # ours, cuBLAS's, the fallback's: each read back and checked
            gemm.validate_random(fmt, np.array(random_c), ref, splits)


def latency_case(ledger: Ledger, case, runner) -> None:
    p = case.params
    if case.skip:
        return
    from smbench.families.latency.family import ring_of

    ring = ring_of(p)
    threads = 1 if p["mode"] == "latency" else runner.facts.sm_count * blocks_per_sm_limit(2048, 256) * 256
    chains = threads * (p["chains_per_thread"] if p["mode"] == "loaded" else 1)
    host_copy = np.empty(ring.n, dtype=np.uint32) if p["memory"] != "device" else None
    built = np.zeros(ring.n, dtype=np.uint32) if host_copy is not None else None
    origin = latency.spread(ring, chains)
    total = latency.VALIDATION_STEPS + latency.warm_steps(ring, chains)
    position_after = ring.at(origin + np.uint64(latency.VALIDATION_STEPS))  # the GPU's answers, not counted
    steps_done = np.full(chains, latency.VALIDATION_STEPS, dtype=np.uint64)
    final = ring.at(origin + np.uint64(total))
    with ledger.part("latency"):
        if host_copy is not None:
            host_copy[:] = built  # the ring copied into memory the CPU owns
        picked = np.unique(np.concatenate([[0, ring.n - 1], np.random.default_rng(ring.seed).integers(
            0, ring.n, min(4096, ring.n))]))
        ring.next_of(picked.astype(np.uint64))  # check_array against the definition
        starts = np.asarray(ring.at(origin), dtype=np.uint64)
        latency_cuda_check = runner.part("latency").check_chains
        latency_cuda_check(ring, origin, starts, position_after, steps_done, latency.VALIDATION_STEPS,
                           latency.VALIDATION_STEPS, "validation launch")
        latency_cuda_check(ring, origin, starts, final, np.full(chains, total, dtype=np.uint64), total, None,
                           "after timing")


COSTS = {"stream": stream_case, "transfer": transfer_case, "peak": peak_case, "precision": precision_case,
         "gemm": gemm_case, "latency": latency_case}


def results_cost(ledger: Ledger, cases, out: Path) -> None:
    """ResultWriter.add after every case, records the size a GPU run writes: each case's timing
    samples and the NVML samples of about a second of telemetry at 20 ms."""
    writer = ResultWriter(out / "host-cost.json", {"suite": "quick", "backend": "cuda", "provenance": {},
                                                   "device": {"name": "NVIDIA H200"}})
    samples = [Sample(0.02 * i, 1980.0, 3201.0, 450.0, 45.0, 0) for i in range(50)]
    telemetry = Summary(True, samples=samples, sm_clock_mhz={"min": 1980, "median": 1980, "max": 1980})
    timing = summarize([1e-3 * (1 + 0.001 * i) for i in range(30)]).to_dict()
    for case in cases:
        record = {"family": case.family, "benchmark": case.benchmark, "label": case.label, "status": "ok",
                  **case.params, "time_s": timing, "telemetry": telemetry.to_dict(), "validation": {"ok": True}}
        with ledger.part("results"):
            writer.add(record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--jobs", type=int, default=2, help="prebuild threads (the development machine has 2 cores)")
    args = parser.parse_args(argv)
    suite = suites.load(args.suite)
    facts = h200_facts()
    runner = prebuild.planned_runner(suite, facts, 139 * GIB, sm_clock_max_mhz=1980.0)
    run.prepare_runner(runner, suite)
    cases, _ = run.plan(suite, runner, set(suites.names()))
    counts = defaultdict(int)
    for case in cases:
        counts[case.family] += 1
    print(f"{args.suite} suite planned for {facts.name} ({runner.target}, {facts.sm_count} SMs, "
          f"L2 {facts.l2_bytes >> 20} MiB): {len(cases)} cases: "
          + ", ".join(f"{n} {family}" for family, n in counts.items()), flush=True)
    ledger = Ledger()
    started = time.perf_counter()
    try:
        builds = prebuild.builds_for(cases, runner)
        with ledger.part("prebuild"):
            made = prebuild.make_all(builds, args.jobs)
        failed = [m for m in made if m.error]
        print(f"prebuild: {len(made)} builds on {args.jobs} threads, {len(failed)} failed"
              + "".join(f"\n  FAILED {prebuild.describe(m.build)}: {m.error}" for m in failed), flush=True)
        for case in cases:
            if case.skip or case.family not in COSTS:
                continue
            ledger.cases[case.family] += 1
            COSTS[case.family](ledger, case, runner)
        out = Path(tempfile.mkdtemp(prefix="smbench-host-cost-out-"))
        results_cost(ledger, cases, out)
        shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(_CACHE, ignore_errors=True)
    print(f"{'part':<10} {'cases':>5} {'wall s':>8} {'cpu s':>8}")
    for name in ("prebuild", *COSTS, "results"):
        print(f"{name:<10} {ledger.cases.get(name, '') if name in COSTS else '':>5} {ledger.wall[name]:8.1f} "
              f"{ledger.cpu[name]:8.1f}")
    wall, cpu = sum(ledger.wall.values()), sum(ledger.cpu.values())
    print(f"(benchmark's own wall time {time.perf_counter() - started:.0f} s, stand-ins included; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    print(f"host-side CPU seconds: {cpu:.1f}")
    print(f"host-side seconds: {wall:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
