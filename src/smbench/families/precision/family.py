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
    """Every chosen format the backend probes (the CPU path: those of `cpu_formats`; MLX: the
    formats it has types for)."""
    settings = suite.section("precision")
    chosen = runner.part("precision").formats(settings)
    points = AXES.points(settings, applies=lambda f: chosen.keep is None or f["format"] in chosen.keep)
    return PlanPart([case_of("precision", point, key, f"numerics {precision.BY_KEY[key].label}",
                             cpu_model=settings["cpu_model"], gemm_ks=list(settings["gemm_ks"]))
                     for point in points for key in [point.fields["format"]]], notes=dict(chosen.notes))


def run_precision(case: Case, runner, policy) -> dict:
    """Probe one format's numerics and fit the emulator to the answers; then random GEMMs
    against float64 and against the fitted emulator."""
    fmt = precision.BY_KEY[case.params["format"]]
    settings = case.params
    record = {**base_record(case), "kernel": fmt.kernel, "label": fmt.label, "input_format": fmt.input_format,
              "accumulator": fmt.accumulator, "k": fmt.k}
    try:
        answering = runner.part("precision").devices(runner, fmt, settings)
    except Skip as why:
        return {**record, "status": "skipped", "reason": str(why)}
    device = answering.probe
    # Validation: K products of 1 x 1 must give K exactly, whatever the model.
    ones = np.ones((1, fmt.k))
    got = float(device(fmt, ones, ones, np.zeros(1))[0])
    record["device"] = answering.how
    record.update(answering.kernel)
    record["validation"] = {"ok": got == fmt.k, "checked": 1,
                            "detail": f"sum of {fmt.k} products 1 x 1 = {got:g} (must be {fmt.k} exactly)"}
    if got != fmt.k:
        return {**record, "status": "failed", "reason": "validation failed: " + record["validation"]["detail"]}
    fitted = precision.fit(fmt, device)
    record.update({"status": "ok", "fit": fitted.to_dict()})
    if fitted.model is None:
        return {**record, "status": "failed", "reason": "no model of the emulator's family fits every answer"}
    if answering.through:  # a backend whose matmul is no tensor core (MLX)
        record["through"] = answering.through
        kind, like = "none", []
        record["behaves"] = {"kind": kind, "models": [],
                             "verdict": answering.through_verdict.format(input=fmt.input_format)}
    else:
        kind, like = precision.likeness(fitted.published)
        record["behaves"] = {"kind": kind, "models": [p["gpu"] for p in like],
                             "verdict": precision.verdict(fitted.published)}
    published = tensor_core_models.model_of(like[0]["gpu"], fmt.input_format, fmt.accumulator) if like else None
    record["gemm"] = precision.gemm_errors(fmt, answering.gemm, fitted.model, settings["gemm_ks"], published=published)
    if answering.plays is not None:  # an emulator playing a published model: did the fit find it again?
        record["recovered"] = precision.recovered(answering.plays, fitted)
    return record


def report_lines(label: str, document: dict) -> list[str]:
    """Per fitted format: which published model the device behaves like, or where it differs."""
    return [f"{label}: numerics {line}" for line in view.verdict_lines(document["records"])]


FAMILY = Family("precision", rank=40, summary="tensor-core numerics per format", axes=AXES, plan=plan,
                run=run_precision, view=view.view, report_lines=report_lines, headline=view.headline,
                cost=(0, 3.0), needs="the numerics probes need a tensor core, or a matmul, to ask")
