"""The gemm family as the harness sees it: a tiled mma.sync GEMM per format over squares, LLM and decode shapes, beside cuBLAS."""

from __future__ import annotations

from smbench import devices
from smbench.axes import Axes, Axis, Derived, Point, Setting
from smbench.cases import Case, base_record, case_of
from smbench.errors import SmbenchError
from smbench.families import Family, Figure, PlanPart, gemm, precision
from smbench.families.gemm import publish
from smbench.families.gemm import view
from smbench.settings import is_bool, is_int, is_number, list_of, triple

def _pairs(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(is_int(1)(x) for x in v)


AXES = Axes(
    Axis("formats", "format", default=tuple(gemm.BY_KEY), choices=tuple(gemm.BY_KEY),
         help="every GEMM format the device has; a format it lacks is a skipped row"),
    Derived("shape", "M x N x K: the squares, shapes, decode and tail sizes below, each once"),
    Setting("squares", (), (list_of(is_int(1)), "a list of sizes (M = N = K)")),
    Setting("shapes", (), (list_of(triple), "a list of [M, N, K]")),
    Setting("decode_m", (), (list_of(is_int(1)), "a list of M (the decode batch)")),
    Setting("decode_nk", (), (list_of(_pairs), "a list of [N, K], each run at every decode_m")),
    Setting("tails", (), (list_of(triple), "a list of [M, N, K] (odd sizes: the kernel's edge tiles)")),
    Setting("cublas", True, (is_bool, "true or false (time cuBLAS on the same inputs)")),
    Setting("fallback", True, (is_bool, "true or false (also time the compute_80 PTX build)")),
    Setting("emulator_model", "H100", (lambda v: v in precision.CPU_MODELS,
                                       f"one of {', '.join(precision.CPU_MODELS)} (the GPU whose published "
                                       f"tensor-core model the emulator plays)")),
    Setting("cpu_max_gflop", 1.0, (is_number, "a positive number of GFLOP (larger GEMMs are skipped on the CPU)")),
    Setting("cpu_emulate_max", 1 << 22, (is_int(1), "a whole number (M x N x K up to which the CPU path runs "
                                                    "the emulator too)")),
)


def plan(suite, runner) -> PlanPart:
    settings = suite.section("gemm")
    by_label = {shape.label: shape for shape in gemm.shapes(settings)}
    backend = runner.part("gemm")
    if backend.FORMATS is not None:  # the backend's own formats (MLX's types), on the suite's shapes
        points = [Point({"format": key, "shape": label}) for key in backend.FORMATS for label in by_label]
        formats, notes = backend.FORMATS, backend.PLAN_NOTES
    else:
        points, formats, notes = AXES.points(settings, derived={"shape": by_label}), gemm.BY_KEY, {}
    return PlanPart([case_of("gemm", point, key, f"GEMM {formats[key].label} {shape.label}",
                             m=shape.m, n=shape.n, k=shape.k, shape_kind=shape.kind)
                     for point in points for key, shape in [(point.fields["format"], by_label[point.fields["shape"]])]],
                    notes=dict(notes))


def run_gemm(case: Case, runner, policy) -> dict:
    """One format on one shape: validated exactly and against float64, timed, beside cuBLAS
    and the compute_80 build; held to the format's measured mma.sync rate and spec peak."""
    backend = runner.part("gemm")
    fmt = (backend.FORMATS or gemm.BY_KEY)[case.params["format"]]
    p = case.params
    shape = gemm.Shape(p["m"], p["n"], p["k"], p["shape_kind"])
    record = {**base_record(case), "kernel": fmt.kernel, "label": fmt.label,
              "accumulator": fmt.accumulator, "ops_unit": fmt.ops_unit, "ops": shape.ops,
              "bytes_moved": gemm.bytes_moved(fmt, shape),
              "layout": "A row-major (M x K), B column-major (K x N), C row-major"}
    outcome = backend.run_case(runner, fmt, shape, policy, runner.suite.section("gemm"))
    record.update(outcome.fields)
    if outcome.status != "ok":
        return {**record, "status": outcome.status, "reason": outcome.reason}
    stats = outcome.stats
    held = backend.held_to(runner, fmt, policy)
    spec = devices.spec_peak(runner.spec, held.spec_keys)
    expected = runner.dram_bandwidth
    merit = gemm.figures(fmt, shape, stats.median, held.mma.tflops, spec.value if spec else None,
                         expected.value if expected else None)
    cublas, fallback = outcome.cublas, outcome.fallback
    if cublas.get("status") == "ok":
        cublas["ours_over_cublas"] = merit["tflops"] / cublas["tflops"]
    if fallback.get("status") == "ok":
        fallback["native_over_fallback"] = merit["tflops"] / fallback["tflops"]
    record.update({"status": "ok", "time_s": stats.to_dict(),
                   "tflops": {"median": merit["tflops"], "best": shape.ops / stats.min / 1e12},
                   "gbps": {"median": merit["gbps"], "best": gemm.bytes_moved(fmt, shape) / stats.min / 1e9},
                   "percent_of_bandwidth": merit["percent_of_bandwidth"],
                   "mma_peak": {"tflops": held.mma.tflops, "source": held.mma.source},
                   "percent_of_mma_peak": merit["percent_of_mma_peak"],
                   "spec_peak": None if spec is None else {"value": spec.value, "source": spec.source},
                   "percent_of_spec": merit["percent_of_spec"], "cublas": cublas, "fallback": fallback,
                   "telemetry": outcome.telemetry.to_dict()})
    return record


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# What compare, plot, report and the table read from a measured GEMM record.
_GEMM_FIELDS = {"shape": str, "label": str, "ops_unit": str, "m": int, "n": int, "k": int, "tflops": dict,
                "gbps": dict, "mma_peak": dict, "cublas": dict, "fallback": dict}


def check_record(record: dict, where: str) -> None:
    """A loaded ok GEMM record holds what the table, compare, plot and report index (a published
    one: its figure, format and shape)."""
    fields = {"tflops": dict, "format": str, "shape": str} if record.get("published") else _GEMM_FIELDS
    for name, kind in fields.items():
        if not isinstance(record.get(name), kind) or isinstance(record.get(name), bool):
            raise SmbenchError(f"{where}.{name} should be {'a whole number' if kind is int else f'a {kind.__name__}'} "
                               f"in a GEMM record")
    cublas = record.get("cublas") or {}
    if cublas.get("status") == "ok" and not (_number(cublas.get("tflops"))
                                              and _number(cublas.get("ours_over_cublas"))):
        raise SmbenchError(f"{where}.cublas should have numeric 'tflops' and 'ours_over_cublas' when its status is ok")


FAMILY = Family("gemm", rank=50, summary="a real mma.sync GEMM per precision, beside cuBLAS", axes=AXES,
                plan=plan, run=run_gemm, view=view.view, check_record=check_record,
                compare=publish.COMPARE, report_lines=publish.report_lines, plots=publish.gemm_vs_size,
                figure=Figure("tflops", "T(FL)OP/s", "ops", 1e12), headline=view.headline,
                published=publish.published, vocabulary=publish.VOCABULARY,
                cost=(3, 0.5), needs="the GEMM is each backend's own product (a CUDA kernel, NumPy, mx.matmul)",
                moved={("cpu", "gemm_max_gflop"): "cpu_max_gflop", ("cpu", "gemm_emulate_max"): "cpu_emulate_max"})
