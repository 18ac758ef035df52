"""The numerics family on the CPU reference path: the emulator, configured as the suite's
GPU's published model (smbench.tensor_core_models; the nearest one where that GPU has none
for the format, said so), answers the probes, so the fit is checked on every machine (it
must recover the model it was given)."""

from __future__ import annotations

from smbench.cases import NO_KERNEL
from smbench.families import precision


def devices(runner, fmt: precision.Format, settings: dict):
    """(probe device, GEMM device, what answers, kernel provenance)."""
    model, what = precision.cpu_model(settings["cpu_model"], fmt)
    return (precision.fragment_device(model), precision.emulator_gemm(model),
            f"the emulator playing {settings['cpu_model']} ({what}): {model.describe(fmt.accumulator, bool(fmt.scale))}",
            NO_KERNEL)
