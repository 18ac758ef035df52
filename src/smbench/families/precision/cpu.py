"""The numerics family on the CPU reference path: the emulator, configured as the suite's
GPU's published model (smbench.tensor_core_models; the nearest one where that GPU has none
for the format, said so), answers the probes, so the fit is checked on every machine (it
must recover the model it was given)."""

from __future__ import annotations

from smbench.cases import NO_KERNEL
from smbench.families import precision
from smbench.families.precision.part import Devices, Formats


def formats(settings: dict) -> Formats:
    """The fit runs the emulator many thousand times: [precision] cpu_formats may hold the CPU
    path to a few of the formats asked for."""
    if settings["cpu_formats"] == "all":
        return Formats()
    keep = frozenset(settings["cpu_formats"])
    left = [k for k in settings["formats"] if k not in keep]
    notes = {"precision_cpu_formats": f"the CPU path probes {', '.join(k for k in settings['formats'] if k in keep)} "
                                      f"([precision] cpu_formats); not {', '.join(left)}"} if left else {}
    return Formats(keep, notes)


def devices(runner, fmt: precision.Format, settings: dict) -> Devices:
    """The emulator playing the suite's cpu_model: the fit must recover that model."""
    model, what = precision.cpu_model(settings["cpu_model"], fmt)
    return Devices(precision.fragment_device(model), precision.emulator_gemm(model),
                   f"the emulator playing {settings['cpu_model']} ({what}): "
                   f"{model.describe(fmt.accumulator, bool(fmt.scale))}", NO_KERNEL, plays=model)
