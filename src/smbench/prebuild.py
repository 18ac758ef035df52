"""Every build a run's plan needs, made before anything is timed: `make gpu-check`'s prebuild
step, so that the steps after it find the compile cache warm.

A cold cache costs the run its NVRTC compiles and SASS reads one after another inside the
cases (tens of seconds on 2 cores for the quick suite on an H200: benchmarks/gpu_host_cost.py);
here they run on every core at once. Each family's cuda part says which builds a case needs
(`builds(case, runner)`, smbench.backends.cuda.Build); this module names no family. The
builds are the run's own (same files, targets, options, so the same cache keys): compile,
read the SASS; for a fallback, compile compute_80 PTX, assemble it with nvJitLink for the
GPU and read that SASS. A build that fails is reported here and becomes its case's row in
the run, as it would without this step.

    PYTHONPATH=src python3 -m smbench.prebuild --suites selftest,quick
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from smbench.backends.cuda import TIMING_BUILD_FILE, Build


@dataclass
class Made:
    build: Build
    seconds: float
    error: str = ""


def builds_for(cases, runner) -> list[Build]:
    """The distinct builds `cases` need on `runner`, in plan order, the blocking kernel's first."""
    found = {Build(TIMING_BUILD_FILE, runner.target, read_sass=False): None}
    for case in cases:
        if case.skip:
            continue
        part = runner.part(case.family)
        for build in getattr(part, "builds", lambda case, runner: [])(case, runner):
            found.setdefault(build, None)
    return list(found)


def planned_runner(suite, facts, free_bytes: int, sm_clock_max_mhz: float | None = None):
    """A CudaRunner for a device that is not here, from its facts (backends.facts), opening
    nothing: what a plan for that device needs (its builds, its cases). The host-cost benchmark
    and the tests plan for an H200 with it."""
    from smbench.backends import cuda
    from smbench.backends.facts import memory_kinds
    from smbench.backends.runners import CudaRunner, Runner

    runner = CudaRunner.__new__(CudaRunner)
    Runner.__init__(runner)
    runner.backend, runner.facts = cuda, facts
    runner.describe_device(suite)
    runner.cold_l2 = False
    runner.why = "planned for a device that is not here"
    runner.info = {"backend": "cuda", "name": facts.name, "compute_capability": facts.compute_capability,
                   "sm_count": facts.sm_count, "l2_bytes": facts.l2_bytes, "total_bytes": facts.total_bytes,
                   "free_bytes": free_bytes, "unified_memory": facts.integrated, "sm_clock_max_mhz": sm_clock_max_mhz,
                   "memory_kinds": memory_kinds(facts), "facts": facts.__dict__}
    return runner


def make(build: Build) -> Made:
    """One build as the run makes it (cached: a second make costs a cache read)."""
    from smbench import sass

    made, cubin = _built(build)
    if cubin is not None:
        sass.read(cubin)  # no cuobjdump: the run says "unchecked", as it would anyway
    return made


def _built(build: Build) -> tuple[Made, bytes | None]:
    """The build, and its cubin where its SASS is to be read (not read here)."""
    from smbench.compile import assemble_ptx, compile_file
    from smbench.errors import one_line
    from smbench.paths import kernels_dir

    started = time.perf_counter()
    try:
        result = compile_file(kernels_dir() / build.kernel_file, build.target, options=build.options)
        if not result.ok:
            return Made(build, time.perf_counter() - started, f"does not compile: {result.first_error}"), None
        cubin = result.cubin
        if build.assemble_for:
            assembled = assemble_ptx(result.ptx, build.assemble_for)
            if assembled is None:  # no nvJitLink: the driver's JIT, at run time
                return Made(build, time.perf_counter() - started), None
            if not assembled["ok"]:
                return Made(build, time.perf_counter() - started, "does not assemble: "
                            + (assembled["log"].splitlines() or ["?"])[0]), None
            cubin = assembled["cubin"]
    except Exception as exc:  # noqa: BLE001 - reported; the run meets it again as its case's row
        return Made(build, time.perf_counter() - started, one_line(exc)), None
    return Made(build, time.perf_counter() - started), (cubin if build.read_sass else None)


def make_all(builds: list[Build], jobs: int | None = None) -> list[Made]:
    """Every build, `jobs` at a time (default: every core), then the SASS of them all read
    together (sass_batch: one nvdisasm per architecture, not one per cubin). NVRTC, nvJitLink
    and nvdisasm run outside the interpreter's lock (native calls and child processes), so
    threads suffice."""
    from smbench import sass, sass_batch

    workers = max(1, min(len(builds), jobs or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        built = list(pool.map(_built, builds))
        cubins = [cubin for _, cubin in built if cubin is not None]
        sass_batch.summarize_many(cubins, jobs=workers)
        list(pool.map(sass.read, cubins))  # from the cache now; what the batch could not read, alone
    return [made for made, _ in built]


def describe(build: Build) -> str:
    options = " ".join(o.replace("-DSMBENCH_", "") for o in build.options)
    return (f"{build.kernel_file} {build.target}" + (f" {options}" if options else "")
            + (f" -> {build.assemble_for}" if build.assemble_for else ""))


def main(argv: list[str] | None = None) -> int:
    from smbench import run, suites
    from smbench.errors import SmbenchError

    parser = argparse.ArgumentParser(prog="python -m smbench.prebuild", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default="selftest,quick", help="comma-separated suites whose builds to make")
    parser.add_argument("--jobs", type=int, default=None, help="builds at once (default: every core)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        wanted: dict[Build, None] = {}
        for name in [n for n in args.suites.split(",") if n]:
            suite = suites.load(name)
            runner = run.resolve_backend("cuda", suite)
            run.prepare_runner(runner, suite)
            cases, _ = run.plan(suite, runner, set(suites.names()))
            wanted.update(dict.fromkeys(builds_for(cases, runner)))
    except SmbenchError as exc:
        print(f"prebuild: error: {exc}", file=sys.stderr)
        return 2
    made = make_all(list(wanted), args.jobs)
    failed = [m for m in made if m.error]
    for m in sorted(made, key=lambda m: -m.seconds)[:5]:
        print(f"prebuild: {m.seconds:5.1f} s  {describe(m.build)}")
    for m in failed:
        print(f"prebuild: FAILED {describe(m.build)}: {m.error}")
    print(f"prebuild: {len(made)} builds for {args.suites} in {time.perf_counter() - started:.0f} s on "
          f"{min(len(made), args.jobs or os.cpu_count() or 1)} threads; {len(failed)} failed (their cases say why)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
