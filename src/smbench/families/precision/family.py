"""The precision family as the harness sees it: tensor-core numerics per format: probes, a fitted model, GEMM errors."""

from __future__ import annotations

import numpy as np

from smbench import tensor_core_models
from smbench.axes import Axes, Axis, Setting
from smbench.cases import Case, Skip, base_record, case_of
from smbench.families import Family, PlanPart, precision
from smbench.families.precision import view
from smbench.settings import is_int, list_of

FORMATS = tuple(precision.BY_KEY)
AXES = Axes(
    Axis("formats", "format", default=FORMATS, choices=FORMATS,
         help="every tensor-core format the device has: probes, a fitted model, GEMM errors"),
    Setting("gemm_ks", (64, 256, 1024), (lambda v: list_of(is_int(1))(v) and bool(v),
                                         "a list of whole numbers (K of the random GEMMs)")),
    Setting("cpu_model", "H100", (lambda v: v in precision.CPU_MODELS,
                                  f"one of {', '.join(precision.CPU_MODELS)} (the GPU whose published tensor-core "
                                  f"model the CPU path plays)")),
    # The fit runs the emulator many thousand times: in NumPy, seconds a format (NVFP4 ~12 s).
    Setting("cpu_formats", "all", (lambda v: v == "all" or (list_of(lambda x: x in FORMATS)(v) and bool(v)),
                                   f"\"all\" or a list of {', '.join(FORMATS)} (the formats the CPU path probes)")),
)


def plan(suite, runner) -> PlanPart:
    """Every chosen format; on the CPU path only those of `cpu_formats` too."""
    settings = suite.section("precision")
    part = PlanPart()
    keep = None
    if runner.name == "cpu" and settings["cpu_formats"] != "all":
        keep = set(settings["cpu_formats"])
        left = [k for k in settings["formats"] if k not in keep]
        if left:
            part.notes["precision_cpu_formats"] = (f"the CPU path probes {', '.join(k for k in settings['formats'] if k in keep)} "
                                                   f"([precision] cpu_formats); not {', '.join(left)}")
    if runner.name == "mlx":  # the formats MLX has a type for
        keep = set(runner.part("precision").FORMATS)
        part.notes["precision_mlx"] = f"through MLX: {', '.join(runner.part('precision').FORMATS)} (the formats MLX has types for)"
    points = AXES.points(settings, applies=lambda f: keep is None or f["format"] in keep)
    part.cases = [case_of("precision", point, key, f"numerics {precision.BY_KEY[key].label}",
                          cpu_model=settings["cpu_model"], gemm_ks=list(settings["gemm_ks"]))
                  for point in points for key in [point.fields["format"]]]
    return part


def run_precision(case: Case, runner, policy) -> dict:
    """Probe one format's numerics and fit the emulator to the answers; then random GEMMs
    against float64 and against the fitted emulator."""
    fmt = precision.BY_KEY[case.params["format"]]
    settings = case.params
    record = {**base_record(case), "kernel": fmt.kernel, "label": fmt.label, "input_format": fmt.input_format,
              "accumulator": fmt.accumulator, "k": fmt.k}
    part = runner.part("precision")
    try:
        device, device_gemm, how, provenance_of_kernel = part.devices(runner, fmt, settings)
    except Skip as why:
        return {**record, "status": "skipped", "reason": str(why)}
    # Validation: K products of 1 x 1 must give K exactly, whatever the model.
    ones = np.ones((1, fmt.k))
    got = float(device(fmt, ones, ones, np.zeros(1))[0])
    record["device"] = how
    record.update(provenance_of_kernel)
    record["validation"] = {"ok": got == fmt.k, "checked": 1,
                            "detail": f"sum of {fmt.k} products 1 x 1 = {got:g} (must be {fmt.k} exactly)"}
    if got != fmt.k:
        return {**record, "status": "failed", "reason": "validation failed: " + record["validation"]["detail"]}
    fitted = precision.fit(fmt, device)
    record.update({"status": "ok", "fit": fitted.to_dict()})
    if fitted.model is None:
        return {**record, "status": "failed", "reason": "no model of the emulator's family fits every answer"}
    through = getattr(part, "THROUGH", None)  # a backend whose matmul is no tensor core (MLX)
    if through:
        record["through"] = through
        kind, like = "none", []
        record["behaves"] = {"kind": kind, "models": [], "verdict": part.NOT_A_TENSOR_CORE.format(input=fmt.input_format)}
    else:
        kind, like = precision.likeness(fitted.published)
        record["behaves"] = {"kind": kind, "models": [p["gpu"] for p in like],
                             "verdict": precision.verdict(fitted.published)}
    published = tensor_core_models.model_of(like[0]["gpu"], fmt.input_format, fmt.accumulator) if like else None
    record["gemm"] = precision.gemm_errors(fmt, device_gemm, fitted.model, settings["gemm_ks"], published=published)
    if runner.name == "cpu":
        record["recovered"] = precision.recovered(precision.cpu_model(settings["cpu_model"], fmt)[0], fitted)
    return record


def report_lines(label: str, document: dict) -> list[str]:
    """Per fitted format: which published model the device behaves like, or where it differs."""
    return [f"{label}: numerics {line}" for line in view.verdict_lines(document["records"])]


FAMILY = Family("precision", rank=40, summary="tensor-core numerics per format", axes=AXES, plan=plan,
                run=run_precision, view=view.view, report_lines=report_lines, headline=view.headline,
                cost=(0, 3.0))
