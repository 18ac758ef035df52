"""The stream family as the harness sees it: its suite section, its plan over the working-set sweep and the memory kinds, and one case run and validated."""

from __future__ import annotations

import math

from smbench import devices
from smbench.backends.runners import dram_starts
from smbench.axes import Axes, Axis, Derived, Setting, Values
from smbench.cases import HOME_MEMORY, MIB, Case, base_record, case_of
from smbench.families import Family, PlanPart, require, stream
from smbench.families.stream import expected as expect
from smbench.families.stream import publish
from smbench.families.stream.part import Work
from smbench.families.stream import view
from smbench.settings import power_of_two, is_int, list_of

OPERATION_LIST = (list_of(lambda x: x in stream.OPERATIONS), f"a list of {', '.join(stream.OPERATIONS)}")
AXES = Axes(
    Axis("operations", "op", default=tuple(stream.OPERATIONS), choices=tuple(stream.OPERATIONS),
         help="BabelStream's kernels, and read and write"),
    Axis("dtypes", "dtype", default=("f32",), choices=tuple(stream.DTYPES)),
    Axis("widths", "width", default=(16,), choices=(4, 8, 16), help="bytes per access (a vector of the type)"),
    Derived("memory", "the device's own memory, then each other kind it offers (managed, pinned, pageable)"),
    Derived("working_set", "bytes of all the kernel's arrays: 32 KiB doubling to max(4 x the last-level cache, "
                           "1 GiB), capped", unit="bytes"),
    Derived("path", "on the mlx backend: MLX operations or Metal kernels"),
    Setting("memory_kinds_operations", (), OPERATION_LIST,
            "the operations also run in every other memory kind, at the largest size"),
    Setting("size_step", 1, (power_of_two(1), "a power of two >= 1 (1 = every doubling)")),
    Setting("largest_mib", None, (is_int(1), "a whole number of MiB >= 1 (the sweep's largest working set)")),
    Setting("memory_kinds_largest_mib", None, (is_int(1), "a whole number of MiB >= 1 (the other memory kinds' "
                                                          "working set: the sweep's largest size up to this)")),
    together=lambda v: next((f"no width applies to {d} (its widths: {', '.join(map(str, stream.WIDTHS[d]))} bytes)"
                             for d in v["dtypes"] if not set(v["widths"]) & set(stream.WIDTHS[d])), ""),
)


def stream_sizes(suite, runner) -> tuple[list[int], str]:
    settings = suite.section("stream")
    caps = [(settings["largest_mib"], "the suite's cap"),
            (suite.section("cpu")["largest_mib"] if runner.figures_are_host_cpu else None, "the suite's CPU cap")]
    caps = [(mib, what) for mib, what in caps if mib]
    largest, what = min(caps) if caps else (None, "")
    sizes, _, why = stream.sweep_sizes(runner.last_level_cache_bytes, runner.info["free_bytes"],
                                       bool(runner.info.get("unified_memory")),
                                       largest=largest * MIB if largest else None)
    if largest:
        why = f"{what}, {largest} MiB (memory allows {why})"
    step = max(1, int(round(math.log2(settings["size_step"]))))
    chosen = sizes[::step]
    if sizes and chosen[-1] != sizes[-1]:
        chosen.append(sizes[-1])
    return chosen, why


def _case(point):
    f = point.fields
    where = f"{f['working_set'] // 1024} KiB {f['memory']}" if f["memory"] in HOME_MEMORY else f["memory"]
    return case_of("stream", point, f["op"], f"{f['op']} {f['dtype']} {f['width']}B {where}")


def plan(suite, runner) -> PlanPart:
    """Every operation, type and width over the working-set sweep in the device's own memory;
    the other memory kinds at the largest size, last of the whole run: a GPU that faults on
    memory the CPU owns (managed, mapped, pageable) loses its context after the rest ran."""
    part = PlanPart()
    settings = suite.section("stream")
    sizes, part.notes["sweep_cap"] = stream_sizes(suite, runner)
    own = runner.part("stream").plan_cases
    if own is not None:  # a backend with cases of its own (MLX: its operations, then Metal kernels)
        part.cases = own(settings, sizes, runner)
        return part
    fits = lambda f: f["width"] in stream.WIDTHS[f["dtype"]]  # noqa: E731 - f64 has no 4-byte access
    part.cases = [_case(p) for p in AXES.points(settings, derived={"memory": [runner.home_memory],
                                                                   "working_set": sizes}, applies=fits)]
    others = [kind for kind in runner.memory_kinds() if kind.kind != runner.home_memory]
    if others and sizes:
        # The CPU writes every byte of these before the run (and the kernel's first touch moves
        # managed pages): the suite may hold them to a smaller working set than the sweep's top.
        cap = settings["memory_kinds_largest_mib"]
        working_set = ([size for size in sizes if not cap or size <= cap * MIB] or sizes[:1])[-1]
        offered = {kind.kind: kind.offered or kind.why or "not offered" for kind in others}
        others = Values({**settings, "operations": list(settings["memory_kinds_operations"]),
                         "dtypes": settings["dtypes"][:1], "widths": [max(settings["widths"])]})
        part.last = [_case(p) for p in AXES.points(others, derived={"memory": list(offered), "working_set": [working_set]},
                                                   applies=lambda f: offered[f["memory"]])]
    return part


def run_stream(case: Case, runner, policy) -> dict:
    p = case.params
    record = base_record(case)
    if not p.get("offered", True):  # an MLX Metal kernel off macOS
        return {**record, "status": "skipped", "reason": p["why"]}
    # A backend that names its own kernels (mlx: an MLX operation or a Metal kernel) puts it in the case.
    record["kernel"] = p.get("kernel") or stream.kernel_name(p["op"], p["dtype"], p["width"])
    itemsize = stream.DTYPES[p["dtype"]](0).itemsize
    elements = stream.elements_for(p["op"], p["working_set"], itemsize, p["width"])
    moved = stream.OPERATIONS[p["op"]].bytes_moved(elements, itemsize)
    record.update({"elements": elements, "working_set_bytes": moved, "bytes_moved": moved,
                   "formula": stream.OPERATIONS[p["op"]].formula})
    measured = runner.part("stream").run_case(
        runner, Work(p["op"], p["dtype"], p["width"], p["memory"], elements, p.get("path", "")), policy)
    stats, validation, first_touch = measured.stats, measured.validation, measured.first_touch_s
    record.update({"validation": validation.to_dict(), "launch": measured.how,
                   "telemetry": measured.telemetry.to_dict(), **measured.kernel})
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    median_gbps = moved / stats.median / 1e9
    dram = moved >= dram_starts(runner.last_level_cache_bytes)
    expected, basis = expectation_of(p["memory"], p["op"], elements, itemsize, runner)
    record.update({
        "status": "ok", "time_s": stats.to_dict(),
        "gbps": {"median": median_gbps, "best": moved / stats.min / 1e9},
        "dram_resident": dram,
        "expected_gbps": expected.value if expected else None,
        "expected_source": f"{expected.kind}: {expected.source}" if expected else None,
        "expected_basis": basis,
        "percent_of_expected": 100 * median_gbps / expected.value if expected else None,
        "verdict": expect.bandwidth_verdict(median_gbps, expected, dram),
    })
    if first_touch:
        record["first_touch"] = {"seconds": first_touch, "gbps": moved / first_touch / 1e9,
                                 "what": "the first launch alone, the pages where the CPU wrote them: it pays for "
                                         "moving them (the GPU's page faults); not judged"}
        record["timing"] = ("the first launch timed alone (first_touch); the median is of the launches after it, "
                            "with the pages wherever the first left them")
    return record


# What the figure of a kernel on each kind of memory is held to, and why (docs/memory.md).
# device: the DRAM spec. managed (and prefetched): after the first touch the pages are in the
# GPU's memory, so the DRAM spec (the first touch is timed apart, not judged). pinned-mapped:
# host memory over its link (PCIe as NVML reports it; the DRAM itself on a unified device).
# pageable: the same on a unified device; on a discrete GPU (HMM) the driver decides where
# pages end up, so no expectation.
def expectation_of(memory: str, op: str, elements: int, itemsize: int, runner):
    spec = runner.spec
    dram = runner.dram_bandwidth
    if memory in (runner.home_memory, "managed", "managed-prefetch"):
        return dram, "the DRAM spec" if dram else "no DRAM figure"
    info = runner.info
    if memory == "pageable" and not devices.unified(info, spec):
        return None, "pageable memory on a discrete GPU: the driver decides where its pages end up (HMM)"
    link, why = devices.host_memory_link(info, spec, dram)
    if link is None:
        return None, why
    operation = stream.OPERATIONS[op]
    read, written = len(operation.reads) * elements * itemsize, (elements * itemsize if operation.writes else 0)
    return (link, why) if devices.unified(info, spec) else (devices.over_link(link, read, written), why)


def check_record(record: dict, where: str) -> None:
    """What compare, plot, report and export index in an ok stream record: its GB/s, and for a
    measured one the kernel, memory and working set its sweep is drawn by."""
    require(record, where, {"gbps": dict} if record.get("published") else
            {"gbps": dict, "kernel": str, "memory": str, "working_set_bytes": int}, "stream")


FAMILY = Family("stream", rank=10,
                summary="memory bandwidth: BabelStream's kernels over a working-set sweep and every memory kind",
                axes=AXES, plan=plan, run=run_stream, view=view.view, check_record=check_record,
                compare=publish.COMPARE, report_lines=publish.report_lines, report_section=publish.llm_section,
                plots=publish.bandwidth_vs_size, headline=view.headline,
                needs="the stream operations are each backend's own code (CUDA kernels, NumPy, MLX)",
                header=expect.header, check_header=expect.check_header, title=expect.title,
                published=publish.published, vocabulary=publish.VOCABULARY, verdict_styles=expect.VERDICT_STYLES)
