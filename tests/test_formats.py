"""The narrow formats bit for bit: every FP4/FP6 value, the FP8 and scale extremes."""

import math

import numpy as np
import pytest

from smbench import formats
from smbench.errors import SmbenchError

# Positive values of each code 0 .. 2^(bits-1) - 1, written out from the OCP MX
# specification's tables, not computed.
E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
E2M3 = [0, .125, .25, .375, .5, .625, .75, .875, 1, 1.125, 1.25, 1.375, 1.5, 1.625, 1.75, 1.875,
        2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5]
E3M2 = [0, .0625, .125, .1875, .25, .3125, .375, .4375, .5, .625, .75, .875, 1, 1.25, 1.5, 1.75,
        2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28]


@pytest.mark.parametrize("name, positive", [("e2m1", E2M1), ("e2m3", E2M3), ("e3m2", E3M2)])
def test_every_fp4_and_fp6_code(name, positive):
    values = formats.MINIFLOATS[name].values
    half = len(values) // 2
    assert list(values[:half]) == positive
    assert list(values[half:]) == [-v for v in positive]  # the sign bit on top; -0 at the midpoint
    assert math.copysign(1, values[half]) == -1
    for code, value in enumerate(positive):
        assert formats.encode(name, value) == code
        if value:
            assert formats.encode(name, -value) == code + half


def test_e4m3_extremes_and_nan():
    e4m3 = formats.MINIFLOATS["e4m3"]
    assert e4m3.decode(0x38) == 1.0
    assert e4m3.decode(0x7E) == 448 == e4m3.max_finite
    assert e4m3.decode(0x01) == 2.0 ** -9  # smallest subnormal
    assert e4m3.decode(0x08) == 2.0 ** -6  # smallest normal
    assert e4m3.decode(0x07) == 7 * 2.0 ** -9  # largest subnormal
    assert math.isnan(e4m3.decode(0x7F)) and math.isnan(e4m3.decode(0xFF))
    assert not np.isinf(e4m3.values).any()  # no infinities in e4m3
    assert np.isnan(e4m3.values).sum() == 2
    assert e4m3.decode(0xFE) == -448


def test_e5m2_extremes_infinities_and_nans():
    e5m2 = formats.MINIFLOATS["e5m2"]
    assert e5m2.decode(0x3C) == 1.0
    assert e5m2.decode(0x7B) == 57344 == e5m2.max_finite
    assert e5m2.decode(0x01) == 2.0 ** -16
    assert e5m2.decode(0x7C) == math.inf and e5m2.decode(0xFC) == -math.inf
    assert all(math.isnan(e5m2.decode(c)) for c in (0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF))
    assert np.isnan(e5m2.values).sum() == 6


def test_scale_formats():
    ue8m0, ue4m3 = formats.MINIFLOATS["ue8m0"], formats.MINIFLOATS["ue4m3"]
    assert ue8m0.decode(127) == 1.0 and ue8m0.decode(128) == 2.0 and ue8m0.decode(0) == 2.0 ** -127
    assert ue8m0.decode(254) == 2.0 ** 127 and math.isnan(ue8m0.decode(255))
    assert ue4m3.bits == 8 - 1 and ue4m3.decode(0x38) == 1.0 and ue4m3.decode(0x40) == 2.0
    assert ue4m3.max_finite == 448 and math.isnan(ue4m3.decode(0x7F))


def test_wide_formats_round_trip_and_refuse_inexact_values():
    assert formats.encode("f16", 1.5) == 0x3E00 and formats.decode("f16", 0x3E00) == 1.5
    assert formats.encode("bf16", -2.0) == 0xC000 and formats.decode("bf16", 0xC000) == -2.0
    assert formats.encode("tf32", 1.5) == 0x3FC00000
    assert formats.encode("s4", -2) == 0xE and formats.decode("s4", 0xE) == -2
    assert formats.encode("s8", -2) == 0xFE and formats.decode("s8", 0xFE) == -2
    for name, value in (("e2m1", 2.5), ("e4m3", 449.0), ("bf16", 1 + 2.0 ** -10), ("tf32", 1 + 2.0 ** -12),
                        ("f16", 1 + 2.0 ** -12), ("s4", 8), ("s8", 0.5)):
        with pytest.raises(SmbenchError, match="not"):
            formats.encode(name, value)


def test_round_to_bf16_is_nearest_even():
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7 in bf16: ties go to the even (1.0).
    assert formats.round_to("bf16", np.array([1 + 2.0 ** -8]))[0] == 1.0
    assert formats.round_to("bf16", np.array([1 + 3 * 2.0 ** -8]))[0] == 1 + 2 * 2.0 ** -7
    assert formats.round_to("f16", np.array([2049.0]))[0] == 2048.0
