"""The stream family as the harness sees it: its suite section, its plan over the working-set sweep and the memory kinds, and one case run and validated."""

from __future__ import annotations

import math

from smbench import devices
from smbench.cases import MIB, Case, base_record
from smbench.errors import SmbenchError
from smbench.families import Family, PlanPart, require, stream
from smbench.families.stream import publish
from smbench.families.stream import view
from smbench.settings import is_int, list_of

SETTINGS = {
    "operations": (list_of(lambda x: x in stream.OPERATIONS), f"a list of {', '.join(stream.OPERATIONS)}"),
    "memory_kinds_operations": (list_of(lambda x: x in stream.OPERATIONS), f"a list of {', '.join(stream.OPERATIONS)}"),
    "dtypes": (list_of(lambda x: x in stream.DTYPES), "a list of f32, f64"),
    "widths": (list_of(lambda x: x in (4, 8, 16) and not isinstance(x, bool)), "a list of 4, 8, 16 (bytes)"),
    "size_step": (lambda v: is_int(1)(v) and v & (v - 1) == 0, "a power of two >= 1 (1 = every doubling)"),
    "largest_mib": (is_int(1), "a whole number of MiB >= 1 (the sweep's largest working set)"),
    "memory_kinds_largest_mib": (is_int(1), "a whole number of MiB >= 1 (the other memory kinds' working set: "
                                            "the sweep's largest size up to this)"),
}


def stream_sizes(suite, runner) -> tuple[list[int], str]:
    on_host = getattr(runner, "on_host", runner.name == "cpu")  # the host's memory: the CPU path, MLX's CPU device
    caps = [(suite.flag("stream", "largest_mib", None), "the suite's cap"),
            (suite.flag("cpu", "largest_mib", None) if on_host else None, "the suite's CPU cap")]
    caps = [(mib, what) for mib, what in caps if mib]
    largest, what = min(caps) if caps else (None, "")
    sizes, _, why = stream.sweep_sizes(runner.l2_bytes, runner.info["free_bytes"],
                                       bool(runner.info.get("unified_memory")),
                                       largest=largest * MIB if largest else None)
    if largest:
        why = f"{what}, {largest} MiB (memory allows {why})"
    step = max(1, int(round(math.log2(suite.flag("stream", "size_step", 1)))))
    chosen = sizes[::step]
    if sizes and chosen[-1] != sizes[-1]:
        chosen.append(sizes[-1])
    return chosen, why


def plan(suite, runner) -> PlanPart:
    """Every operation, type and width over the working-set sweep in the device's own memory;
    the other memory kinds at the largest size, last of the whole run: a GPU that faults on
    memory the CPU owns (managed, mapped, pageable) loses its context after the rest ran."""
    part = PlanPart()
    section = suite.data["stream"]
    sizes, part.notes["sweep_cap"] = stream_sizes(suite, runner)
    if runner.name == "mlx":  # MLX operations and, on Metal, Metal kernels at each width
        part.cases = runner.part("stream").plan_cases(section, sizes, runner)
        return part
    home = "device" if runner.name == "cuda" else "host"
    for dtype in section.get("dtypes", ["f32"]):
        for width in section.get("widths", [16]):
            if width not in stream.WIDTHS[dtype]:
                continue
            for op in section.get("operations", []):
                for size in sizes:
                    part.cases.append(Case("stream", op, f"{op} {dtype} {width}B {size // 1024} KiB {home}",
                                           {"op": op, "dtype": dtype, "width": width, "memory": home,
                                            "working_set": size}))
    if runner.name == "cuda":
        # The CPU writes every byte of these before the run (and the kernel's first touch moves
        # managed pages): the suite may hold them to a smaller working set than the sweep's top.
        cap = section.get("memory_kinds_largest_mib")
        fitting = [size for size in sizes if not cap or size <= cap * MIB]
        working_set = (fitting or sizes[:1] or [0])[-1]
        for kind, offered, why in runner.memory_kinds():
            if kind == "device":
                continue
            for op in section.get("memory_kinds_operations", []):
                dtype, width = section.get("dtypes", ["f32"])[0], max(section.get("widths", [16]))
                part.last.append(Case("stream", op, f"{op} {dtype} {width}B {kind}",
                                      {"op": op, "dtype": dtype, "width": width, "memory": kind,
                                       "working_set": working_set, "offered": offered, "why": why}))
    return part


def run_stream(case: Case, runner, policy) -> dict:
    p = case.params
    record = base_record(case)
    if not p.get("offered", True):
        return {**record, "status": "skipped", "reason": p["why"]}
    # A backend that names its own kernels (mlx: an MLX operation or a Metal kernel) puts it in the case.
    record["kernel"] = p.get("kernel") or stream.kernel_name(p["op"], p["dtype"], p["width"])
    itemsize = stream.DTYPES[p["dtype"]](0).itemsize
    elements = stream.elements_for(p["op"], p["working_set"], itemsize, p["width"])
    moved = stream.OPERATIONS[p["op"]].bytes_moved(elements, itemsize)
    record.update({"elements": elements, "working_set_bytes": moved, "bytes_moved": moved,
                   "formula": stream.OPERATIONS[p["op"]].formula})
    extra = {"path": p["path"]} if "path" in p else {}
    stats, validation, launch, telemetry, kernel = runner.part("stream").run_case(
        runner, p["op"], p["dtype"], p["width"], p["memory"], elements, policy, **extra)
    launch = dict(launch)
    first_touch = launch.pop("first_touch_s", None)
    record.update({"validation": validation.to_dict(), "launch": launch, "telemetry": telemetry.to_dict(),
                   **kernel})
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    median_gbps = moved / stats.median / 1e9
    dram = moved >= runner.dram_threshold
    expected, basis = expectation_of(p["memory"], p["op"], elements, itemsize, runner)
    record.update({
        "status": "ok", "time_s": stats.to_dict(),
        "gbps": {"median": median_gbps, "best": moved / stats.min / 1e9},
        "dram_resident": dram,
        "expected_gbps": expected.value if expected else None,
        "expected_source": f"{expected.kind}: {expected.source}" if expected else None,
        "expected_basis": basis,
        "percent_of_expected": 100 * median_gbps / expected.value if expected else None,
        "verdict": devices.bandwidth_verdict(median_gbps, expected, dram),
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
    spec = getattr(runner, "spec", None)
    dram = runner.expected
    if memory in ("device", "host", "managed", "managed-prefetch") or runner.name != "cuda":
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


def check(section: dict, suite_name: str) -> None:
    """Every dtype asked for has a width it can run at."""
    for dtype in section.get("dtypes", []):
        if not set(section.get("widths", [16])) & set(stream.WIDTHS[dtype]):
            raise SmbenchError(f"{suite_name}: [stream] no width applies to {dtype} "
                               f"(its widths: {', '.join(map(str, stream.WIDTHS[dtype]))} bytes)")


def check_record(record: dict, where: str) -> None:
    """What compare, plot, report and export index in an ok stream record: its GB/s, and for a
    measured one the kernel, memory and working set its sweep is drawn by."""
    require(record, where, {"gbps": dict} if record.get("published") else
            {"gbps": dict, "kernel": str, "memory": str, "working_set_bytes": int}, "stream")


FAMILY = Family("stream", rank=10,
                summary="memory bandwidth: BabelStream's kernels over a working-set sweep and every memory kind",
                settings=SETTINGS, plan=plan, run=run_stream, check=check, view=view.view, check_record=check_record,
                compare=publish.COMPARE, report_lines=publish.report_lines, report_section=publish.llm_section,
                plots=publish.bandwidth_vs_size, headline=view.headline)
