import numpy as np
import pytest

from smbench import devices
from smbench.backends import facts
from smbench.families import stream
from smbench.families.stream import GIB, KIB, MIB
from smbench.families.stream import expected as expect

from device_data import GB10, H100_SXM


@pytest.mark.parametrize("op, arrays", [("copy", 2), ("scale", 2), ("add", 3), ("triad", 3), ("dot", 2),
                                        ("read", 1), ("write", 1)])
def test_bytes_are_counted_as_babelstream_does(op, arrays):
    assert stream.OPERATIONS[op].bytes_moved(1000, 4) == arrays * 1000 * 4
    assert stream.OPERATIONS[op].bytes_moved(1000, 8) == arrays * 1000 * 8


def test_kernel_names_and_widths():
    assert stream.kernel_name("triad", "f32", 16) == "stream_triad_f32_v16"
    with pytest.raises(KeyError):
        stream.kernel_name("triad", "f64", 4)
    with pytest.raises(KeyError):
        stream.kernel_name("stencil", "f32", 16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_is_exact_for_the_element_wise_operations(dtype):
    index = np.arange(600_000, dtype=np.int64)
    a, b, c = (stream.pattern(n, index, np.float64) for n in "abc")
    s = stream.SCALAR
    for op, want in (("copy", a), ("scale", s * c), ("add", a + b), ("triad", b + s * c)):
        got = stream.expected_elements(op, index, dtype)
        assert got.dtype == dtype and np.array_equal(got.astype(np.float64), want), op
    # an FMA (one rounding) and a multiply-then-add (two) agree: s * c is exact
    fused = (b.astype(dtype) + (s * c).astype(dtype)).astype(dtype)
    assert np.array_equal(fused, stream.expected_elements("triad", index, dtype))


def test_reduction_references_from_periods_match_brute_force():
    for op, n in (("dot", 1_234_567), ("read", 777_777)):
        index = np.arange(n, dtype=np.int64)
        a, b = stream.pattern("a", index, np.float64), stream.pattern("b", index, np.float64)
        brute = float((a * b).sum()) if op == "dot" else float(a.sum())
        assert stream.expected_sum(op, n) == pytest.approx(brute, rel=1e-12)


def test_validation_catches_a_wrong_element_and_an_unwritten_one():
    index = np.arange(10_000, dtype=np.int64)
    good = stream.expected_elements("triad", index, np.float32)
    assert stream.validate_elements("triad", np.float32, index, good.copy()).ok
    wrong = good.copy()
    wrong[1234] += 1
    result = stream.validate_elements("triad", np.float32, index, wrong)
    assert not result.ok and "index 1234" in result.detail
    unwritten = good.copy()
    unwritten[-1] = np.nan
    assert not stream.validate_elements("triad", np.float32, index, unwritten).ok


def test_reduction_validation_uses_a_derived_tolerance():
    n = 1 << 24
    want = stream.expected_sum("dot", n)
    tolerance = stream.reduction_tolerance("dot", np.float32, n, threads=132 * 2048)
    assert 1e-6 < tolerance < 1e-4
    assert stream.validate_sum("dot", np.float32, n, want * (1 + tolerance / 2), 132 * 2048).ok
    assert not stream.validate_sum("dot", np.float32, n, want * (1 + 3 * tolerance), 132 * 2048).ok
    assert not stream.validate_sum("read", np.float32, n, float("nan"), 1024).ok


def test_check_indices_cover_ends_and_samples():
    assert len(stream.check_indices(1000)) == 1000
    big = stream.check_indices(1 << 28, full_limit=1 << 20, sample=1 << 12)
    assert big[0] == 0 and big[-1] == (1 << 28) - 1 and len(big) <= 3 * (1 << 12)


def test_sweep_for_an_h100_reaches_past_four_times_l2_and_one_gib():
    sizes, cap, why = stream.sweep_sizes(H100_SXM.l2_bytes, 79 * GIB, unified=False)
    assert sizes[0] == 32 * KIB and sizes[0] < 256 * KIB  # well inside one SM's L1
    assert sizes[-1] >= max(4 * H100_SXM.l2_bytes, GIB) and sizes[-1] <= cap
    assert all(b == 2 * a for a, b in zip(sizes, sizes[1:-1]))


def test_sweep_on_a_unified_device_uses_a_stated_fraction_of_free_memory():
    sizes, cap, why = stream.sweep_sizes(GB10.l2_bytes, 100 * GIB, unified=True)
    assert cap == int(100 * GIB * stream.UNIFIED_FREE_FRACTION) and "unified memory" in why
    assert sizes[-1] == max(4 * GB10.l2_bytes, GIB)
    small, cap, why = stream.sweep_sizes(GB10.l2_bytes, 2 * GIB, unified=True)  # a busy Spark
    assert small[-1] == cap == GIB // 2 and "below the" in why


def test_elements_fill_the_working_set_in_whole_blocks():
    n = stream.elements_for("triad", 96 * MIB, 4, 16)
    assert n % (4 * 256) == 0 and 3 * n * 4 <= 96 * MIB < 3 * (n + 4 * 256) * 4
    assert stream.elements_for("copy", 1, 4, 16) == 4 * 256  # never zero


def test_memory_kinds_offered_on_an_h100_and_a_spark():
    h100 = {kind: offered for kind, offered, _ in facts.memory_kinds(H100_SXM)}
    spark = {kind: offered for kind, offered, _ in facts.memory_kinds(GB10)}
    assert set(h100) == set(spark) == set(facts.MEMORY_KINDS)
    assert h100 == {"device": True, "managed": True, "managed-prefetch": True, "pinned-mapped": True,
                    "pageable": False}
    assert all(spark.values())
    why = dict((k, w) for k, _, w in facts.memory_kinds(H100_SXM))["pageable"]
    assert "pageableMemoryAccess = 0" in why


def test_grid_fills_every_sm_to_its_occupancy_and_no_more_than_the_work():
    blocks = facts.blocks_per_sm_limit(H100_SXM.max_threads_per_sm, 256)
    assert blocks == 8 and facts.blocks_per_sm_limit(GB10.max_threads_per_sm, 256) == 6
    assert stream.grid_size(H100_SXM.sm_count, blocks, 256, packs=1 << 26) == 132 * 8
    assert stream.grid_size(GB10.sm_count, 6, 256, packs=1 << 26) == 48 * 6
    assert stream.grid_size(GB10.sm_count, 6, 256, packs=1000) == 4  # a small array: the work bounds it
    assert stream.grid_size(132, 0, 256, packs=0) == 1


def test_expected_bandwidth_from_the_table_and_derived_for_an_unknown_gpu():
    figure, spec = devices.expected_bandwidth(H100_SXM.name, H100_SXM.compute_capability)
    assert spec.key == "h100-sxm" and figure.value == 3350 and figure.kind == "V"
    figure, spec = devices.expected_bandwidth(GB10.name, GB10.compute_capability)
    assert spec.key == "gb10" and figure.value == 273
    derived, spec = devices.expected_bandwidth("Some Future GPU", "13.0", GB10.memory_clock_khz, GB10.bus_width_bits)
    assert spec is None and derived.kind == "D" and derived.value == pytest.approx(273, abs=0.1)
    derived, _ = devices.expected_bandwidth("Another GPU", "9.0", H100_SXM.memory_clock_khz, H100_SXM.bus_width_bits)
    assert derived.value == pytest.approx(3352, rel=0.01)
    assert devices.expected_bandwidth("Mystery", None)[0] is None


@pytest.mark.parametrize("name, key", [("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H100 NVL", "h100-nvl"),
                                       ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA GH200 480GB", None),
                                       ("NVIDIA H200", "h200"), ("NVIDIA A100-SXM4-40GB", "a100-40"),
                                       ("NVIDIA GeForce RTX 5090", "rtx5090"), ("NVIDIA GB10", "gb10")])
def test_device_names_match_their_rows(name, key):
    spec = devices.match(name)
    assert (spec.key if spec else None) == key


def test_verdicts():
    figure = devices.by_key("gb10").memory_bandwidth
    assert expect.bandwidth_verdict(232, figure, True) == "normal"
    assert expect.bandwidth_verdict(150, figure, True) == "low"
    assert expect.bandwidth_verdict(400, figure, True) == "suspicious-high"
    assert expect.bandwidth_verdict(900, figure, False) == "cache"
    assert expect.bandwidth_verdict(100, None, True) == "no expectation"
    # the public Spark measurement is normal by the table's own band
    measured = devices.by_key("gb10").measured_bandwidth[0].value
    assert expect.bandwidth_verdict(measured, figure, True) == "normal"


def test_host_side_fill_matches_the_pattern_across_chunks():
    from smbench.families.stream import cuda  # imports without a GPU: CuPy is loaded only when used

    view = np.empty(3 * (1 << 12) + 5, dtype=np.float32)
    cuda.fill_pattern_on_host(view, "b", chunk=1 << 12)
    assert np.array_equal(view, stream.pattern("b", np.arange(len(view)), np.float32))


def test_the_cpu_paths_long_f32_dot_stays_within_its_stated_bound():
    """The full suite's CPU run failed stream_dot_f32 at 2^26 elements: a BLAS dot adds in
    sequence, past the 128-term bound it was held to. Taken in DOT_CHUNK rows, it is held to
    a DOT_CHUNK-term bound, which it meets; a result off by more is still caught."""
    from smbench.families.stream import cpu

    case = cpu.prepare("dot", "f32", 4, 1 << 26)
    got = cpu.run_once(case)
    validation = cpu.validate(case, got)
    assert validation.ok, validation.detail
    assert validation.tolerance == stream.reduction_tolerance("dot", np.float32, 1 << 26, (1 << 26) // cpu.DOT_CHUNK)
    assert not cpu.validate(case, got * (1 + 2 * validation.tolerance)).ok
    assert got == pytest.approx(cpu.dot(case.arrays["a"][:1000], case.arrays["b"][:1000])
                                + cpu.dot(case.arrays["a"][1000:], case.arrays["b"][1000:]), rel=1e-6)
