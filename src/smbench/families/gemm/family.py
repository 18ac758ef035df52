"""The gemm family as the harness sees it: a tiled mma.sync GEMM per format over squares, LLM and decode shapes, beside cuBLAS."""

from __future__ import annotations

from smbench import devices
from smbench.axes import Axes, Axis, Derived, Setting
from smbench.cases import Case, base_record, case_of
from smbench.errors import SmbenchError
from smbench.families import Family, PlanPart, gemm, peak, precision
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
    if runner.name == "mlx":  # MLX's own types (C in A's type), on the suite's shapes
        return PlanPart(runner.part("gemm").plan_cases(list(by_label.values())),
                        notes={"gemm_mlx": "mx.matmul in every type MLX has (f32, f16, bf16; int8 asked and "
                                           "refused or run); [gemm] formats names CUDA formats and is not read"})
    return PlanPart([case_of("gemm", point, key, f"GEMM {gemm.BY_KEY[key].label} {shape.label}",
                             m=shape.m, n=shape.n, k=shape.k, shape_kind=shape.kind)
                     for point in AXES.points(settings, derived={"shape": by_label})
                     for key, shape in [(point.fields["format"], by_label[point.fields["shape"]])]])


def run_gemm(case: Case, runner, policy) -> dict:
    """One format on one shape: validated exactly and against float64, timed, beside cuBLAS
    and the compute_80 build; held to the format's measured mma.sync rate and spec peak."""
    if runner.name == "mlx":
        return runner.part("gemm").run_record(case, runner, policy, runner.suite.section("gemm"))
    fmt = gemm.BY_KEY[case.params["format"]]
    p = case.params
    shape = gemm.Shape(p["m"], p["n"], p["k"], p["shape_kind"])
    record = {**base_record(case), "kernel": fmt.kernel, "label": fmt.label,
              "accumulator": fmt.accumulator, "ops_unit": fmt.ops_unit, "ops": shape.ops,
              "bytes_moved": gemm.bytes_moved(fmt, shape),
              "layout": "A row-major (M x K), B column-major (K x N), C row-major"}
    outcome = runner.part("gemm").run_case(runner, fmt, shape, policy, runner.suite.section("gemm"))
    kept = ("support", "support_note", "instruction", "tile", "splits", "sass", "validation", "error",
            "emulator")
    record.update({k: outcome[k] for k in kept if k in outcome})
    record.update(outcome.get("provenance", {}))
    if outcome.get("status") in ("skipped", "failed"):
        return {**record, "status": outcome["status"], "reason": outcome["reason"]}
    stats = outcome["stats"]
    mma_peak, peak_source = runner.part("peak").loop_rate(runner, fmt.peak_key, policy)
    spec = devices.spec_peak(runner.spec, peak.BY_KEY[fmt.peak_key].spec_keys)
    expected = runner.expected
    merit = gemm.figures(fmt, shape, stats.median, mma_peak, spec.value if spec else None,
                         expected.value if expected else None)
    cublas, fallback = outcome["cublas"], outcome["fallback"]
    if cublas.get("status") == "ok":
        cublas["ours_over_cublas"] = merit["tflops"] / cublas["tflops"]
    if fallback.get("status") == "ok":
        fallback["native_over_fallback"] = merit["tflops"] / fallback["tflops"]
    record.update({"status": "ok", "time_s": stats.to_dict(),
                   "tflops": {"median": merit["tflops"], "best": shape.ops / stats.min / 1e12},
                   "gbps": {"median": merit["gbps"], "best": gemm.bytes_moved(fmt, shape) / stats.min / 1e9},
                   "percent_of_bandwidth": merit["percent_of_bandwidth"],
                   "mma_peak": {"tflops": mma_peak, "source": peak_source},
                   "percent_of_mma_peak": merit["percent_of_mma_peak"],
                   "spec_peak": None if spec is None else {"value": spec.value, "source": spec.source},
                   "percent_of_spec": merit["percent_of_spec"], "cublas": cublas, "fallback": fallback,
                   "telemetry": outcome["telemetry"].to_dict()})
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
                figure=("tflops", "T(FL)OP/s", "ops", 1e12), headline=view.headline,
                cost=(3, 0.5))
