"""The numerics family on the CPU reference path: the emulator, configured as the suite's
model, answers the probes, so the fit is checked on every machine (it must recover the
model it was given)."""

from __future__ import annotations

from smbench.cases import NO_KERNEL
from smbench.families import precision


def devices(runner, fmt: precision.Format, settings: dict):
    """(probe device, GEMM device, what answers, kernel provenance)."""
    model = precision.MODELS[settings["cpu_model"]]
    return (precision.fragment_device(model), precision.emulator_gemm(model),
            f"the emulator configured as model {settings['cpu_model']!r}: {model.describe(fmt.accumulator)}",
            NO_KERNEL)
