"""Declared axes: one table gives a family's suite checking, defaults, plan and record identity."""

from __future__ import annotations

import pytest

from smbench.axes import ALL, Axes, Axis, Derived, Setting, duplicates
from smbench.errors import SmbenchError
from smbench.settings import is_int

AXES = Axes(
    Axis("operations", "op", default=("copy", "triad"), choices=("copy", "scale", "triad")),
    Axis("dtypes", "dtype", default=("f32",), choices=("f32", "f64")),
    Axis("widths", "width", default=(16,), choices=(4, 8, 16)),
    Axis("copies", ("direction", "host"), default=(("h2d", "pinned"),),
         choices=(("h2d", "pinned"), ("d2h", "pageable"))),
    Derived("working_set", "bytes, from the sweep"),
    Setting("size_step", 4, (lambda v: is_int(1)(v) and v & (v - 1) == 0, "a power of two >= 1")),
    together=lambda v: "f64 has no 4-byte width" if v["dtypes"] == ["f64"] and v["widths"] == [4] else "",
)


def test_defaults_fill_what_the_suite_leaves_out_and_all_means_every_choice():
    values = AXES.values({"operations": ALL, "widths": [4, 16]})
    assert values["operations"] == ["copy", "scale", "triad"]
    assert values["dtypes"] == ["f32"] and values["widths"] == [4, 16] and values["size_step"] == 4
    assert values["copies"] == [("h2d", "pinned")]  # TOML lists become the tuples the fields take
    assert AXES.values({"copies": [["d2h", "pageable"]]})["copies"] == [("d2h", "pageable")]
    assert AXES.values({"widths": [16, 4, 16]})["widths"] == [16, 4]  # listed twice is one case


@pytest.mark.parametrize("section, said", [
    ({"operation": ["copy"]}, "has no setting 'operation' (did you mean 'operations'?)"),
    ({"colour": "red"}, "has no setting 'colour' (known: operations, dtypes, widths, copies, size_step)"),
    ({"dtypes": ["f16"]}, "dtypes = ['f16'] should be \"all\" or a non-empty list of f32, f64"),
    ({"dtypes": []}, "dtypes = [] should be"),
    ({"widths": [True]}, "widths = [True] should be"),  # True == 1 but is no width
    ({"copies": [["h2d", "device"]]}, "should be \"all\" or a non-empty list of [h2d, pinned], [d2h, pageable]"),
    ({"size_step": 3}, "size_step = 3 should be a power of two >= 1"),
    ({"dtypes": ["f64"], "widths": [4]}, "f64 has no 4-byte width"),
])
def test_every_wrong_section_is_one_line_naming_the_key(section, said):
    with pytest.raises(SmbenchError) as error:
        AXES.check(section, "x.toml", "stream")
    message = str(error.value)
    assert message.startswith("x.toml: [stream] ") and said in message and "\n" not in message


def test_a_section_that_is_not_a_table_is_refused():
    with pytest.raises(SmbenchError, match=r"\[stream\] should be a table, not list"):
        AXES.check([1], "x.toml", "stream")


def test_points_are_the_cartesian_product_in_declaration_order_with_the_filter():
    values = AXES.values({"operations": ["copy", "triad"], "dtypes": ["f32", "f64"], "widths": [4, 16]})
    points = AXES.points(values, derived={"working_set": [1024, 4096]},
                         applies=lambda f: False if (f["dtype"], f["width"]) == ("f64", 4) else
                         ("no triad at 4 KiB here" if (f["op"], f["working_set"]) == ("triad", 4096) else True))
    assert len(points) == 2 * 2 * 2 * 2 - 4  # f64 at 4 B: no such combination, no case
    first = points[0].fields
    assert first == {"op": "copy", "dtype": "f32", "width": 4, "direction": "h2d", "host": "pinned",
                     "working_set": 1024}
    skipped = [p for p in points if p.skip]
    assert {p.fields["op"] for p in skipped} == {"triad"} and all(p.fields["working_set"] == 4096 for p in skipped)
    assert all(p.skip == "no triad at 4 KiB here" for p in skipped)


def test_only_some_axes_and_fixed_fields_make_a_second_sweep():
    values = AXES.values({})
    points = AXES.points(values, only=["operations"], fixed={"memory": "managed", "working_set": 1 << 26})
    assert [p.fields for p in points] == [{"op": "copy", "memory": "managed", "working_set": 1 << 26},
                                         {"op": "triad", "memory": "managed", "working_set": 1 << 26}]
    assert AXES.points(values, only=["operations", "working_set"])[0].fields == {"op": "copy"}  # none given


def test_an_axis_turns_suite_values_into_record_values():
    axes = Axes(Axis("sizes_mib", "bytes", default=(1,), item=(is_int(1), "whole MiB"), into=lambda m: m << 20))
    assert [p.fields for p in axes.points(axes.values({"sizes_mib": [1, 4]}))] == [{"bytes": 1 << 20},
                                                                                  {"bytes": 4 << 20}]


def test_identity_is_the_family_and_the_axes_fields():
    record = {"family": "stream", "op": "copy", "dtype": "f32", "width": 16, "direction": None,
              "working_set": 1024, "gbps": {"median": 1.0}, "shape": [1, 2]}
    assert AXES.identity(record) == ("stream", "copy", "f32", 16, None, None, 1024)
    other = {**record, "gbps": {"median": 2.0}}  # the figure is not what it measured
    assert AXES.identity(other) == AXES.identity(record)
    assert AXES.identity({**record, "width": 8}) != AXES.identity(record)
    assert duplicates([(1,), (2,), (1,), (1,), (3,), (2,)]) == [(1,), (2,)]


def test_a_table_that_names_a_key_or_field_twice_is_a_programming_error():
    with pytest.raises(ValueError, match="key 'dtypes' twice"):
        Axes(Axis("dtypes", "dtype", ("f32",), ("f32",)), Setting("dtypes", 1, (bool, "x")))
    with pytest.raises(ValueError, match="record field 'dtype' twice"):
        Axes(Axis("dtypes", "dtype", ("f32",), ("f32",)), Derived("dtype"))
