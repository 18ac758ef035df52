"""The collectives family without a GPU: nccl-tests' busbw factors and 16-byte chunks; the
inputs and their exact outputs in every type and op, with every planted wrong collective failing
(a rank left out of a reduction, a block sent to the wrong peer, a reduce_scatter chunk shifted,
an element never written) at 2..9 ranks and every size of the full suite, in a NumPy simulation of
NCCL's arithmetic and through real MPI calls at 3 and 4 ranks; the links and verdicts (a healthy
Spark pair, the management port's two speeds); the launch read from the environment (SLURM_LOCALID
under PMI), agreement between ranks naming the setting, the missing-mpi4py message, the NCCL calls
against a stand-in, the time aggregates and the checks after the timing, world size 1 in this
process, and real `mpiexec -n 2` / `-n 3` jobs on the CPU path (a full run, a settings mismatch,
a rank that dies and one that hangs, Ctrl-C)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli_here
from smbench import ranks
from smbench.errors import SmbenchError
from smbench.families import collectives as co
from smbench.families.collectives import cpu, links
from smbench.families.collectives import cuda as nccl


@pytest.fixture(autouse=True)
def fresh_world():
    ranks.reset()
    yield
    ranks.reset()


# ---------------------------------------------------------------- busbw and sizes

def test_busbw_factors_are_nccl_tests():
    """doc/PERFORMANCE.md of nccl-tests (gather and scatter: their *GetBw, (n-1)/n): 1 GB in 1 s over 4 ranks."""
    want = {"all_reduce": 1.5, "all_gather": 0.75, "reduce_scatter": 0.75, "alltoall": 0.75, "broadcast": 1.0,
            "reduce": 1.0, "sendrecv": 1.0, "gather": 0.75, "scatter": 0.75}
    assert set(want) == set(co.COLLECTIVES)
    for name, busbw in want.items():
        assert co.figures(name, 10**9, 1.0, 4) == pytest.approx((1.0, busbw)), name
    assert co.figures("all_reduce", 10**9, 0.5, 2) == pytest.approx((2.0, 2.0))
    assert co.bus_factor("all_reduce", 1) == 0 and co.bus_factor("all_gather", 8) == pytest.approx(7 / 8)
    assert co.figures("all_gather", 0, 1e-5, 3) == (0.0, 0.0)  # a size too small for one element per rank


def test_chunks_round_down_to_16_bytes_as_nccl_tests():
    """nccl-tests (commit 29f4114, December 2024): count/nranks & ~(16/eltSize - 1)."""
    assert co.element_count("all_gather", 64, "f32", 3) == (12, 4)  # 5 f32 a rank -> 4 (16 bytes)
    assert co.element_count("all_gather", 1024, "f32", 3) == (252, 84)  # 85 -> 84
    assert co.element_count("reduce_scatter", 504, "int8", 3) == (480, 160)  # 168 -> 160
    assert co.element_count("alltoall", 4096, "f64", 3) == (510, 170)  # 170 f64: already 16-byte chunks
    assert co.element_count("all_reduce", 64, "f32", 3) == (16, 16)  # not chunked: every element
    assert co.element_count("gather", 8, "f64", 2) == (0, 0)  # a zero row, as nccl-tests prints it
    assert co.element_count("scatter", 144, "int8", 9) == (144, 16)
    assert co.element_count("scatter", 143, "int8", 9) == (0, 0)
    assert co.sweep(8, 1 << 30, 2)[-1] == 1 << 30 and len(co.sweep(8, 1 << 30, 2)) == 28


# ---------------------------------------------------------------- exact outputs, and every wrong one fails

def _full_suite_sizes() -> list[int]:
    from smbench import suites

    section = suites.load("full").data["collectives"]
    return co.sweep(section["smallest_bytes"], section["largest_mib"] * co.MIB, section["size_step"])


FULL_SIZES = _full_suite_sizes()
SEED = 1
WINDOW = 48  # elements of each block looked at: a wrong element there makes the whole check fail


def _reduce(stored, op, dtype, n):
    """NCCL's reduction over the first axis of `stored` (each rank's elements in the type's storage),
    in the type's own arithmetic, rank after rank: floats through f32 (f64 itself) rounded back to
    the type after each step, integers wrapping in the type; avg as NCCL does it (enqueue.cc): the
    floats' inputs times round(1/n) before the sum, the integers' sum divided by n after it, towards 0."""
    from smbench.families.collectives import dtypes as dtmod
    from smbench.families.collectives import pattern as ptmod

    t = dtmod.DTYPES[dtype]
    values = dtmod.decode(np, stored, dtype)
    if op == "avg" and t.is_float:
        values = dtmod.decode(np, dtmod.round_to(values * ptmod._scalar_of_one_over(dtype, n), dtype), dtype)
    combine = {"sum": np.add, "avg": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum}[op]
    total = values[0]
    for value in values[1:]:
        step = combine(total, value)
        total = dtmod.decode(np, dtmod.round_to(step, dtype) if t.is_float else step.astype(t.storage), dtype)
    if op == "avg" and not t.is_float:
        total = np.sign(total) * (np.abs(total) // n)
    return dtmod.encode(np, total, dtype)


def _inputs(pat, ranks_, index):
    """Each of `ranks_`'s inputs (in storage) at `index` (an int64 array of any shape): [rank, *index.shape]."""
    from smbench.families.collectives import dtypes as dtmod
    from smbench.families.collectives import pattern as ptmod

    r = np.asarray(ranks_).reshape((-1,) + (1,) * index.ndim)
    return dtmod.encode(np, ptmod.inputs(np, pat, r, index[None], SEED), pat.dtype)


def _fails(got_stored, want, dtype, windows):
    """Whether each planted output (the leading axes) differs from `want` within its first `windows`
    elements (the last axis): co.mismatches, the check's own comparison."""
    wrong = co.mismatches(np, got_stored, want, dtype)
    inside = np.arange(wrong.shape[-1]) < np.asarray(windows)[..., None]
    return (wrong & inside).any(axis=-1)


@pytest.mark.parametrize("n", range(2, 10))
def test_every_reduction_is_exact_and_every_rank_left_out_fails(n):
    """At every size of the full suite, in every type and op the plan keeps at n ranks: NCCL's
    reduction of the inputs (simulated in the type's arithmetic) is the exact result the check
    expects, and leaving out any one rank fails all_reduce, reduce (the root's output: the same
    elements) and reduce_scatter (each rank its chunk) - for min and max wherever the buffer has at
    least n elements (with fewer, a rank holding no element's extreme cannot be missed by min or max)."""
    counts = np.array([co.element_count("all_reduce", size, "int8", n)[0] for size in FULL_SIZES])
    for dtype in co.DTYPES:
        item = co.DTYPES[dtype].size
        for op in co.OPS:
            if co.not_exact("all_reduce", op, dtype, n):
                continue
            pat = co.pattern_of("all_reduce", op, dtype, n)
            want = co.values(np, pat, [("reduced", WINDOW, 0)], 0, WINDOW, SEED)
            stored = _inputs(pat, range(n), np.arange(WINDOW))
            assert not _fails(_reduce(stored, op, dtype, n), want, dtype, WINDOW), (dtype, op, "exact")
            left_out = np.stack([_reduce(np.delete(stored, k, axis=0), op, dtype, n) for k in range(n)])
            elements = np.minimum(counts // item, WINDOW)
            caught = _fails(left_out[:, None, :], want, dtype, elements[None, :])  # [rank left out, size]
            must = elements[None, :] >= (n if op in ("min", "max") else 1)
            assert (caught | ~must).all(), (dtype, op, np.argwhere(~caught & must)[:3])
            # reduce_scatter: rank r's chunk is the reduction at r*c + j; every size at once.
            chunks = np.array([co.element_count("reduce_scatter", size, dtype, n)[1] for size in FULL_SIZES])
            index = np.arange(n)[None, :, None] * chunks[:, None, None] + np.arange(WINDOW)[None, None, :]
            stored_rs = _inputs(pat, range(n), index)  # [rank, size, chunk, j]
            right = _reduce(stored_rs, op, dtype, n)  # [size, chunk, j]
            want_rs = pt_reduced(pat, index)
            seen = np.minimum(chunks, WINDOW)[:, None]
            assert not _fails(right, want_rs, dtype, seen).any(), (dtype, op, "reduce_scatter exact")
            for k in range(n):
                wrong = _reduce(np.delete(stored_rs, k, axis=0), op, dtype, n)
                caught = _fails(wrong, want_rs, dtype, seen).any(axis=1)  # any rank's chunk
                must = chunks * n >= (n if op in ("min", "max") else 1)
                assert (caught | ~must | (chunks == 0)).all(), (dtype, op, k)
            # Each reduce_scatter chunk shifted: rank r returns chunk r + shift.
            for shift in range(1, n):
                shifted = np.roll(right, -shift, axis=1)
                caught = _fails(shifted, want_rs, dtype, seen)  # [size, rank]: each rank's own check
                assert (caught.all(axis=1) | (chunks == 0)).all(), (dtype, op, shift, FULL_SIZES[
                    int(np.argmin(caught.all(axis=1) | (chunks == 0)))])


def pt_reduced(pat, index):
    from smbench.families.collectives import pattern as ptmod

    return ptmod.reduced(np, pat, index, SEED)


@pytest.mark.parametrize("n", range(2, 10))
def test_every_block_sent_to_the_wrong_peer_fails(n):
    """At every size of the full suite and in every type: an all_gather (or gather at the root)
    whose slot s holds another rank's chunk, an alltoall whose sender s sent its block for q to q'
    (scatter: the root likewise), a send/recv from the wrong rank and a broadcast from the wrong
    root all differ from the expected output within the block's first elements."""
    chunk_sizes = {}
    for dtype in co.DTYPES:
        pat = co.pattern_of("all_gather", "sum", dtype, n)
        chunks = np.array([co.element_count("all_gather", size, dtype, n)[1] for size in FULL_SIZES])
        seen = np.minimum(chunks, WINDOW)
        j = np.arange(WINDOW)
        # all_gather, gather: block s is rank s's inputs at s*c + j: every pair (s, s') differs.
        own = np.stack([_inputs(pat, [s], s * chunks[:, None] + j)[0] for s in range(n)])  # [s, size, j]
        wrong = _fails(own[:, None], own[None, :], dtype, seen[None, None, :])  # [a, b]: slot b holding block a
        off_diagonal = ~np.eye(n, dtype=bool)[:, :, None] & (chunks > 0)[None, None, :]
        assert wrong[off_diagonal].all(), (dtype, "all_gather")
        # alltoall (and scatter from any root): sender s's block for q is its inputs at q*c + j.
        for s in range(n):
            blocks = _inputs(pat, [s], np.arange(n)[:, None, None] * chunks[None, :, None] + j)[0]  # [q, size, j]
            crossed = _fails(blocks[:, None], blocks[None, :], dtype, seen[None, None, :])  # [q', q, size]
            assert crossed[off_diagonal].all(), (dtype, "alltoall", s)
        # send/recv and broadcast: the whole buffer from rank s' instead of s.
        counts = np.array([co.element_count("sendrecv", size, dtype, n)[0] for size in FULL_SIZES])
        whole = np.stack([_inputs(pat, [s], np.broadcast_to(j, (len(FULL_SIZES), WINDOW)))[0] for s in range(n)])
        crossed = _fails(whole[:, None], whole[None, :], dtype, np.minimum(counts, WINDOW)[None, None, :])
        assert crossed[~np.eye(n, dtype=bool)[:, :, None] & (counts > 0)[None, None, :]].all(), (dtype, "sendrecv")
        chunk_sizes[dtype] = chunks
    assert chunk_sizes["int8"][-1] == (1 << 30) // n & ~15  # the full suite's 1 GiB reached


def test_whole_buffers_through_the_check_at_three_ranks():
    """The same plants on whole buffers, through check_output and combine: one rank left out of an
    all_reduce, an all_gather slot from the wrong rank, a reduce_scatter chunk shifted, an element
    never written (the sentinel) - each fails and says where; the right output passes."""
    n, size = 3, 504  # the reviewer's size: 168 int8 per rank, 160 after nccl-tests' rounding
    for dtype in ("int8", "bf16", "e4m3"):
        count = co.element_count("reduce_scatter", size, dtype, n)[0]
        pat = co.pattern_of("reduce_scatter", "sum", dtype, n)
        c = count // n
        whole = _inputs(pat, range(n), np.arange(count))
        right = _reduce(whole, "sum", dtype, n)
        checks = [co.check_output(np, pat, co.expected("reduce_scatter", "out_of_place", r, n, count),
                                  right[r * c:(r + 1) * c], SEED) for r in range(n)]
        assert co.combine(checks)["ok"] and co.combine(checks)["checked"] == count
        shifted = [co.check_output(np, pat, co.expected("reduce_scatter", "out_of_place", r, n, count),
                                   right[((r + 1) % n) * c:((r + 1) % n + 1) * c], SEED) for r in range(n)]
        result = co.combine(shifted)
        assert not result["ok"] and result["detail"].startswith("rank 0: ") and "ranks 1, 2 wrong too" in result["detail"]
        missing = _reduce(whole[1:], "sum", dtype, n)
        result = co.combine([co.check_output(np, pat, co.expected("all_reduce", "in_place", r, n, count), missing, SEED)
                             for r in range(n)])
        assert not result["ok"] and result["wrong"] == n * count  # no element is right: a nonzero input each
        copy = co.pattern_of("all_gather", "sum", dtype, n)
        gathered = np.concatenate([co.fill(np, copy, [("input", c, s, s * c)], SEED) for s in (0, 0, 2)])
        result = co.check_output(np, copy, co.expected("all_gather", "out_of_place", 1, n, count), gathered, SEED)
        assert not result["ok"] and c <= result["first"] < 2 * c
        unwritten = co.fill(np, copy, co.expected("all_gather", "out_of_place", 1, n, count), SEED)
        unwritten[5] = co.fill(np, copy, [("sentinel", 1)], SEED)[0]
        result = co.check_output(np, copy, co.expected("all_gather", "out_of_place", 1, n, count), unwritten, SEED)
        assert not result["ok"] and result["first"] == 5 and result["wrong"] == 1


def test_no_input_is_zero_and_no_two_ranks_are_alike():
    """The reviewer's cases of the old pattern (i + r(2i+1)) mod p: rank (p-1)/2 all zeros, chunks
    alike whenever the chunk length was a multiple of p. Here, at 2..9 ranks and every type: no sum
    input is 0, no product factor is 1, no two ranks' inputs are the same along any 64 elements
    (where an input is only a sign, e5m2's sums at 5 ranks and more, 64 elements are 64 hashed bits)."""
    for n in range(2, 10):
        for dtype in co.DTYPES:
            for op in co.OPS:
                if co.not_exact("all_reduce", op, dtype, n):
                    continue
                pat = co.pattern_of("all_reduce", op, dtype, n)
                x = co.values(np, pat, [("input", 4096, 0, 0)], 0, 4096, SEED)
                every = np.stack([co.values(np, pat, [("input", 4096, r, 0)], 0, 4096, SEED) for r in range(n)])
                if op in ("sum", "avg"):
                    assert (every != 0).all(), (n, dtype, op)
                if op == "prod":
                    assert (every != 1).all(), (n, dtype, op)
                windows = every.reshape(n, -1, 64)
                for a in range(n):
                    for b in range(a):
                        assert (windows[a] != windows[b]).any(axis=1).all(), (n, dtype, op, a, b)
                assert x.size == 4096


def test_the_plan_leaves_out_what_cannot_be_exact():
    """Which (op, type) pairs have no exact pattern, at 9 and 16 ranks (the plan leaves them out with a note)."""
    def missing(n):
        return sorted(f"{op} {dtype}" for op in co.OPS for dtype in co.DTYPES if co.not_exact("all_reduce", op, dtype, n))

    assert missing(8) == []
    assert missing(9) == ["avg e5m2"]  # 9 x 1 is not an e5m2 integer: no input n x y at all
    assert missing(16) == ["avg e5m2", "avg int8", "avg uint8", "prod e4m3", "sum e5m2"]
    assert all(not co.not_exact("all_gather", "sum", dtype, 125) for dtype in co.DTYPES)  # copies: any count


def test_avg_inputs_come_back_exactly_every_way_nccl_multiplies():
    """ncclAvg of floats is a sum of x * round(1/n) (enqueue.cc, FuncPreMulSum): in the type itself
    (sm_53+ half2, sm_80+ bf16x2, sm_90+ fp8 through half), or through f32 on older GPUs. Every avg
    input of the pattern, n x y, comes back as y every way, so the average is exact."""
    from smbench.families.collectives import pattern as ptmod

    for n in range(1, 10):
        for dtype in ("f16", "bf16", "e4m3", "e5m2", "f32", "f64"):
            if co.not_exact("all_reduce", "avg", dtype, n):
                continue
            shares = np.array(co.pattern_of("all_reduce", "avg", dtype, n).shares, dtype=np.float64)
            assert shares.size
            for way, back in ptmod.premultiplied(shares, dtype, n).items():
                assert np.array_equal(back, shares), (n, dtype, way)
    # A share that does not come back is left out: f32 at 7 ranks loses some (7 x round(1/7) is not 1).
    assert len(co.pattern_of("all_reduce", "avg", "f32", 7).shares) < 4096


def test_fp8_rounding_is_nearest_even_and_saturates():
    from smbench.families.collectives import dtypes as dtmod

    got = dtmod.decode(np, dtmod.round_to(np.array([9.0, 17.0, 19.0, 1000.0, -1000.0, 0.3]), "e4m3"), "e4m3")
    assert got.tolist() == [9.0, 16.0, 20.0, 448.0, -448.0, 0.3125]  # 17 and 19: ties, to the even 16 and 20
    got = dtmod.decode(np, dtmod.round_to(np.array([9.0, 10.0, 11.0, 1e6]), "e5m2"), "e5m2")
    assert got.tolist() == [8.0, 10.0, 12.0, 57344.0]


def test_bf16_sum_rounds_to_nearest_even():
    """The CPU path's bf16 sum: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to the even 1."""
    one, tiny = cpu.f32_to_bf16(np.array([1.0], np.float32)), cpu.f32_to_bf16(np.array([2 ** -8], np.float32))
    total = cpu.f32_to_bf16(cpu.bf16_to_f32(one) + cpu.bf16_to_f32(tiny))
    assert cpu.bf16_to_f32(total)[0] == 1.0
    three = cpu.f32_to_bf16(np.array([1 + 3 * 2 ** -8], np.float32))  # a tie above an odd last bit: rounds up
    assert cpu.bf16_to_f32(three)[0] == 1 + 2 ** -6


# ---------------------------------------------------------------- links

def test_a_low_figure_names_only_a_link_that_could_produce_it():
    assert links.verdict(0.11, links.LINKS["200gbe"]).like.key == "1gbe"
    assert links.verdict(5.6, links.LINKS["100gbe"]) == links.Verdict("low", pytest.approx(44.8), None)  # not 1 or 10 GbE
    assert links.verdict(200, links.LINKS["nvlink4"]).words == ""  # not PCIe gen5's 63 GB/s
    assert links.verdict(3.5, links.LINKS["spark-pair"]).words == ""  # 3x the 10 GbE port, a third of half a port


def test_a_healthy_spark_pair_reads_normal_and_a_wrong_one_names_the_link_it_looks_like():
    """NVIDIA's playbook: one QSFP cable, all_reduce busbw about 20-24 GB/s; a forum report with two
    cables 25.67. A figure of the management port (10 GbE per one source, 1 GbE per another) names
    both speeds; one of half the cabled port names that, with what to set."""
    link, why = links.choose("auto", 2, 2, nccl.ONE_HOST, ["NVIDIA GB10", "NVIDIA GB10"])
    assert link.key == "spark-pair" and "GB10" in why
    for healthy in (20.0, 22.0, 24.0, 25.67):
        assert links.verdict(healthy, link).verdict == "normal", healthy
    assert round(links.verdict(22.0, link).percent) == 92
    for management in (1.1, 0.11, 0.6):
        judged = links.verdict(management, link)
        assert judged.verdict == "low" and judged.like.key == "spark-management", management
        assert "10 GbE" in judged.words and "1.25 GB/s" in judged.words and "1 GbE" in judged.words \
            and "0.125 GB/s" in judged.words
        assert "NCCL_IB_HCA" in judged.advice
    half = links.verdict(11.5, link)
    assert half.verdict == "low" and half.like.key == "spark-half-port" and "both halves" in half.advice
    assert links.verdict(14.0, link) == links.Verdict("low", pytest.approx(100 * 14 / 24), None)
    assert links.verdict(45.0, link).verdict == "suspicious-high"  # the old 2 x 200 GbE = 50 GB/s is not reachable
    assert links.verdict(45.0, None) == links.Verdict("no expectation", None)
    # The earlier key still works, as the pair.
    assert links.choose("200gbe-x2", 2, 2, nccl.ONE_HOST, [])[0].key == "spark-pair"


def test_published_full_duplex_figures_are_halved():
    """catharsis.net.au's 340 Gbit/s is both directions added: 170 Gbit/s, 21.25 GB/s each way."""
    published = {what: gbps for where, what, gbps, _, _ in links.PUBLISHED if where == "spark-pair"}
    assert published["RDMA 340 Gbit/s full duplex = 170 Gbit/s each way"] == pytest.approx(21.25)
    assert links.LINKS["nvlink4"].gbps == 450 and links.LINKS["nvlink5"].gbps == 900  # 900 and 1800 bidirectional
    for gbps in published.values():  # each reads normal or near it against the pair: none is the old 42.5
        assert gbps < 26


def test_the_link_is_chosen_or_inferred():
    assert links.choose("nvlink4", 8, 1, nccl.ONE_HOST, [])[0].gbps == 450
    assert links.choose("auto", 1, 1, cpu.ONE_HOST, [])[0] is None
    assert links.choose("auto", 3, 1, cpu.ONE_HOST, [])[0].key == "shm"
    assert links.choose("auto", 2, 1, nccl.ONE_HOST, ["H100", "H100"])[0] is None  # NVLink or PCIe: not guessed
    with pytest.raises(SmbenchError, match="one of auto"):
        links.choose("infiniband", 2, 2, nccl.ONE_HOST, [])


# ---------------------------------------------------------------- the rank layer

@pytest.mark.parametrize("env, want", [
    ({}, ("single process", 0, 1, 0)),
    ({"PMI_RANK": "2", "PMI_SIZE": "3", "MPI_LOCALRANKID": "0"}, ("mpiexec (PMI)", 2, 3, 0)),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
     ("Open MPI", 1, 4, 1)),
    ({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0"}, ("Slurm srun", 5, 8, 1)),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "8"}, ("single process", 0, 1, 0)),  # a batch script's shell, no srun
    # srun --mpi=pmi2: Slurm's PMI gives rank and size but no local rank; srun's SLURM_LOCALID does
    # (task 8 of 16, the first on the second node: local rank 0, not 8).
    ({"PMI_RANK": "8", "PMI_SIZE": "16", "SLURM_PROCID": "8", "SLURM_NTASKS": "16", "SLURM_LOCALID": "0",
      "SLURM_STEP_ID": "0"}, ("mpiexec (PMI)", 8, 16, 0)),
    ({"PMI_RANK": "3", "PMI_SIZE": "4"}, ("mpiexec (PMI)", 3, 4, 3)),  # no local rank anywhere: one host assumed
])
def test_the_launch_is_read_from_the_environment(env, want):
    launch = ranks.detect(env)
    assert (launch.launcher, launch.rank, launch.size, launch.local_rank) == want


def test_a_nonsense_launch_is_one_line():
    with pytest.raises(SmbenchError, match="rank 3 of 2"):
        ranks.detect({"PMI_RANK": "3", "PMI_SIZE": "2"})


class _TwoRanks(ranks.World):
    """Rank 0 of two, rank 1's answers changed by `theirs` (what -> function of rank 0's value)."""

    def __init__(self, theirs=None):
        super().__init__(ranks.Launch("test", 0, 2, 0))
        self.theirs = theirs or {}

    def allgather(self, value, what):
        return [value, self.theirs.get(what, lambda v: v)(value)]


def test_ranks_that_disagree_on_the_version_or_a_setting_stop_naming_it():
    mine = ranks.fingerprint("quick", {"collectives": {"dtypes": ["f32"]}, "timing": {"warmup": 1}})
    _TwoRanks().agree("the suite", mine)  # the same: no error
    with pytest.raises(SmbenchError) as error:
        _TwoRanks({"the suite": lambda ours: {**ours, "smbench": "0.0.9"}}).agree("the suite", mine)
    assert "rank 1 has smbench \"0.0.9\" where rank 0 has" in str(error.value) and "\n" not in str(error.value)
    # A setting is named with both values, not as a hash of all of them.
    theirs = ranks.fingerprint("quick", {"collectives": {"dtypes": ["f32", "bf16"]}, "timing": {"warmup": 1}})
    with pytest.raises(SmbenchError) as error:
        _TwoRanks({"the suite": lambda ours: theirs}).agree("the suite", mine)
    assert "rank 1 has collectives.dtypes [\"f32\", \"bf16\"] where rank 0 has [\"f32\"]" in str(error.value)
    assert "timing.warmup" not in str(error.value)


def _no_mpi_library():
    """mpi4py 4 without an MPI library to load (a Mac without mpich or Open MPI)."""
    import types

    module = types.ModuleType("mpi4py")

    def missing(name):
        raise RuntimeError("cannot load MPI library")

    module.__getattr__ = missing
    return module


# (what stands in for mpi4py, what the one line must say)
NO_MPI = [(None, "needs mpi4py"), (_no_mpi_library(), "needs an MPI library (cannot load MPI library)")]


@pytest.mark.parametrize("mpi4py, says", NO_MPI)
def test_a_multi_rank_launch_without_mpi4py_says_how_to_install(monkeypatch, mpi4py, says):
    monkeypatch.setitem(sys.modules, "mpi4py", mpi4py)
    code, out, err = run_cli_here("run", "--backend", "cpu", "--only", "collectives",
                                  env={"PMI_RANK": "0", "PMI_SIZE": "2"})
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and says in err and "install" in err


# ---------------------------------------------------------------- world size 1, in this process

TINY = ["--suite", "quick", "--set", "collectives.smallest_bytes=256", "--set", "collectives.cpu_largest_kib=1",
        "--set", "collectives.size_step=4", "--set", "timing.min_samples=3", "--set", "timing.max_samples=5",
        "--set", "timing.warmup=1"]


def _records(out_dir: Path) -> dict:
    (path,) = out_dir.glob("*.json")
    return json.loads(path.read_text())


def test_world_size_one_runs_without_a_launcher(tmp_path):
    code, out, err = run_cli_here("run", "--backend", "cpu", "--only", "collectives", *TINY, "--set",
                                  "collectives.smallest_bytes=1024", "--out", str(tmp_path / "r"))
    assert code == 0, err
    document = _records(tmp_path / "r")
    assert document["world"]["size"] == 1 and document["world"]["launcher"] == "single process"
    ok = [r for r in document["records"] if r["status"] == "ok"]
    assert len(ok) == len(document["records"]) == 15  # 9 collectives, their placements (MPI: no
    # out-of-place broadcast), 1 KiB
    assert {r["ranks"] for r in ok} == {1}
    for r in ok:
        assert r["validation"]["ok"] and r["engine"] == "MPI" and len(r["rank_time_s"]) == 1
        factor = {"all_reduce": 0, "all_gather": 0, "reduce_scatter": 0, "alltoall": 0, "gather": 0,
                  "scatter": 0}.get(r["benchmark"], 1)
        assert r["busbw_gbps"]["median"] == pytest.approx(factor * r["bytes"] / r["time_s"]["median"] / 1e9)
        # At one rank busbw is 0 by definition for most collectives: compare, export and rerun
        # judge algbw there (the figure names itself).
        assert r["figure_gbps"] == r["algbw_gbps"] and r["figure"].startswith("algbw")
    assert "collectives (MPI, 1 rank)" in out and "MPI has no out-of-place broadcast" in json.dumps(document["notes"])
    assert "gather (MPI, 1 rank): nccl-tests' table" in out and "out-of-place" in out
    from smbench import cli

    path = str(next((tmp_path / "r").glob("*.json")))
    assert cli.main(["plot", path, "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "collectives_busbw_vs_size.png").stat().st_size > 10_000
    code, out, err = run_cli_here("compare", path, path, "--format", "csv")
    assert code == 0 and "all_reduce f32 out of place 1 KiB" in out
    import csv
    import io

    rows = [row for row in csv.DictReader(io.StringIO(out)) if row["key"] == "all_reduce f32 out of place 1 KiB"]
    assert rows and all(float(row["value"]) > 0 for row in rows)  # algbw, not the 0 of a one-rank busbw
    code, out, err = run_cli_here("rerun", path, "--out", str(tmp_path / "again"))
    assert code == 0, err
    assert "same kernels" in out and "not in the new run" not in out


@pytest.mark.parametrize("mpi4py, says", NO_MPI)
def test_world_size_one_without_mpi4py_is_skipped_with_the_hint(tmp_path, monkeypatch, mpi4py, says):
    monkeypatch.setitem(sys.modules, "mpi4py", mpi4py)
    monkeypatch.setattr(cpu, "_ENGINE", None)
    code, out, err = run_cli_here("run", "--backend", "cpu", "--only", "collectives", *TINY, "--set",
                                  "collectives.collectives=[\"all_reduce\"]", "--out", str(tmp_path / "r"))
    assert code == 0, err
    records = _records(tmp_path / "r")["records"]
    assert records and {r["status"] for r in records} == {"skipped"}
    assert says in records[0]["reason"] and ("pip install 'smbench[collectives]'" in records[0]["reason"]
                                             or "brew install open-mpi" in records[0]["reason"])


# ---------------------------------------------------------------- real mpiexec jobs on the CPU path

def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _job_command(ranks_: int, out_dir: Path, extra, fault: str) -> tuple[list[str], dict]:
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec here (pip install 'smbench[collectives]' puts one beside python)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT / "tests"),
           "SMBENCH_TEST_FAULT": fault}
    for name in [k for k in env if k.startswith(("PMI_", "OMPI_", "SLURM_")) or k == "COLUMNS"]:
        del env[name]
    command = [mpiexec, "-n", str(ranks_), sys.executable, str(ROOT / "tests" / "collectives_rank.py"), "run",
               "--backend", "cpu", "--only", "collectives", *TINY, *extra, "--out", str(out_dir)]
    return command, env


def _job(ranks_: int, out_dir: Path, *extra: str, fault: str = "", timeout: float = 60):
    """`mpiexec -n N python tests/collectives_rank.py run ...`: (exit status, stdout, stderr, seconds)."""
    import time

    command, env = _job_command(ranks_, out_dir, extra, fault)
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


@pytest.mark.cli
@pytest.mark.parametrize("n, dtype", [(2, "bf16"), (3, "f16")])
def test_mpiexec_ranks_run_the_collectives_and_rank_zero_writes_one_file(tmp_path, n, dtype):
    code, out, err, _ = _job(n, tmp_path / "r", "--set", f"collectives.dtypes=[\"{dtype}\"]", "--set",
                             "collectives.smallest_bytes=1024", "--set",
                             "collectives.collectives=[\"all_reduce\",\"all_gather\",\"reduce_scatter\","
                             "\"broadcast\",\"reduce\",\"alltoall\",\"sendrecv\"]")
    assert code == 0, err
    assert len(list((tmp_path / "r").glob("*.json"))) == 1
    document = _records(tmp_path / "r")
    assert document["status"] == "complete" and document["world"]["size"] == n
    assert [r["rank"] for r in document["world"]["ranks"]] == list(range(n))
    assert document["world"]["mpi_library"].startswith("MPICH")
    records = document["records"]
    assert len(records) == 11 and {r["status"] for r in records} == {"ok"}
    for r in records:
        assert r["ranks"] == n and len(r["rank_time_s"]) == n and r["validation"]["checked"] > 0
        # each timed sample is the ranks' average (nccl-tests' default, -a 1)
        per_rank = [x["samples"] for x in r["rank_time_s"]]
        average = [sum(samples[i] for samples in per_rank) / n for i in range(len(per_rank[0]))]
        assert r["time_s"]["samples"] == pytest.approx(average[-len(r["time_s"]["samples"]):])
        assert r["time_aggregate"] == "avg" and r["time_aggregate_nccl_tests"] == "-a 1"
        assert r["wrong"] == 0 and r["validation"]["after_timing"]["ok"]
    assert f"collectives (MPI, {n} ranks)" in out
    assert "Held to: shared memory within one host" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 80  # rank 0's stdout is a pipe: 80 columns
    assert err.count("smbench run: suite") == 1  # progress from rank 0 only


@pytest.mark.cli
@pytest.mark.parametrize("n", [3, 4])
def test_every_planted_wrong_collective_fails_through_mpi(n):
    """Real MPI calls at 3 and 4 ranks with wrong collectives planted in what the ranks give them
    (tests/collectives_planted.py): each rank left out of each reduction (every op and type), each
    block sent to the wrong peer (alltoall, all_gather, gather, scatter, send/recv, broadcast), each
    reduce_scatter chunk shifted - every one fails the family's check, every unplanted one passes."""
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec here (pip install 'smbench[collectives]' puts one beside python)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for name in [k for k in env if k.startswith(("PMI_", "OMPI_", "SLURM_"))]:
        del env[name]
    done = subprocess.run([mpiexec, "-n", str(n), sys.executable, str(ROOT / "tests" / "collectives_planted.py")],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("{")]
    outcome = json.loads(line)
    assert outcome["ranks"] == n and outcome["planted"] > 1500 and outcome["ran"] > outcome["planted"]
    assert outcome["unexpected_count"] == 0, outcome["unexpected"]


@pytest.mark.cli
def test_ranks_with_other_settings_stop_with_one_line_each(tmp_path):
    code, out, err, _ = _job(2, tmp_path / "r", fault="1:0:other-settings")
    assert code != 0
    lines = [line for line in err.splitlines() if "do not agree" in line]
    assert len(lines) == 2 and any("rank 1:" in line for line in lines)
    assert all("rank 1 has timing.warmup 2 where rank 0 has 1" in line for line in lines), lines
    assert not list((tmp_path / "r").glob("*.json"))


@pytest.mark.cli
def test_a_rank_that_hangs_ends_the_job_within_the_timeout(tmp_path):
    code, out, err, seconds = _job(3, tmp_path / "r", "--set", "collectives.timeout_s=2", fault="1:14:hang")
    assert code == 3 and seconds < 20
    # The launcher merges every rank's stderr: the line is looked for anywhere in a line.
    lines = [line for line in err.splitlines() if "smbench run: error:" in line]
    assert len(lines) == 1 and "did not complete within 2 s" in lines[0] and "finished cases kept in" in lines[0], \
        err[-2000:]
    document = _records(tmp_path / "r")
    assert document["status"] == "interrupted" and [r["status"] for r in document["records"]] == ["ok"]


@pytest.mark.cli
def test_a_rank_that_dies_ends_the_job_and_the_file_keeps_what_finished(tmp_path):
    """mpiexec (hydra) ends every rank at once when one dies: the file holds the cases before."""
    code, out, err, seconds = _job(3, tmp_path / "r", "--set", "collectives.timeout_s=2", fault="2:14:die")
    assert code != 0 and seconds < 20
    document = _records(tmp_path / "r")
    assert document["status"] in ("running", "interrupted")
    assert [r["status"] for r in document["records"]] == ["ok"]


@pytest.mark.cli
def test_ctrl_c_under_mpiexec_finishes_the_file_as_interrupted_and_says_so(tmp_path):
    """Ctrl-C reaches every rank (the terminal's process group): rank 0 must finish the file
    before another rank ends the job. Rank 1 hangs in the second case, so the job is still
    running, with one case kept, when the signal comes."""
    import signal
    import time

    command, env = _job_command(2, tmp_path / "r", ["--set", "collectives.timeout_s=60"], "1:14:hang")
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                '"status": "ok"' in p.read_text() for p in (tmp_path / "r").glob("*.json")):
            time.sleep(0.1)
        time.sleep(0.5)  # into the hang
        os.killpg(job.pid, signal.SIGINT)
        out, err = job.communicate(timeout=20)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    document = _records(tmp_path / "r")
    assert document["status"] == "interrupted" and [r["status"] for r in document["records"]] == ["ok"], err
    assert "smbench run: interrupted; 1 finished cases kept in" in err and job.returncode != 0
    assert "interrupted on rank" not in err


# ---------------------------------------------------------------- the NCCL calls, against a stand-in

class _Recorder:
    """Stands in for CuPy's NcclCommunicator and the nccl module: records each call."""

    NCCL_SUM = "sum"

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def _nccl_calls(collective, placement, rank=1, n=3, count=12, op="sum", root=0, dtype="f32"):
    from types import SimpleNamespace

    from smbench.families.collectives import cuda

    recorder = _Recorder()
    engine = SimpleNamespace(comm=recorder, nccl=recorder, world=SimpleNamespace(rank=rank, size=n),
                             stream=SimpleNamespace(ptr=7), types={name: t.nccl for name, t in co.DTYPES.items()},
                             cupy=SimpleNamespace(cuda=SimpleNamespace(Device=lambda: SimpleNamespace(
                                 synchronize=lambda: None))))
    item = np.dtype(co.DTYPES[dtype].storage)
    buffer = lambda ptr: SimpleNamespace(data=SimpleNamespace(ptr=ptr), dtype=item)  # noqa: E731
    call = cuda.NcclCall(engine, collective, dtype, placement, buffer(1000),
                         None if placement == "in_place" else buffer(5000), count, op, root)
    call.issue()
    return recorder.calls


F32, SUM = 7, 0  # ncclFloat32, ncclSum (nccl.h)


def test_the_nccl_calls_follow_nccls_layout():
    """CuPy's argument order, nccl.h's type and op numbers, NCCL's in-place layout (a rank's chunk
    at rank x chunk), and alltoall, send/recv, gather and scatter as grouped point-to-point calls,
    as nccl-tests makes them (before NCCL 2.28's ncclGather and ncclScatter)."""
    chunk = 4 * 4  # 12 f32 over 3 ranks: 4 elements each
    assert _nccl_calls("all_reduce", "out_of_place") == [("allReduce", 1000, 5000, 12, F32, SUM, 7)]
    assert _nccl_calls("all_reduce", "in_place", op="avg") == [("allReduce", 1000, 1000, 12, F32, 4, 7)]
    assert _nccl_calls("all_reduce", "out_of_place", op="min", dtype="e4m3") == [("allReduce", 1000, 5000, 12, 10, 3, 7)]
    assert _nccl_calls("all_gather", "in_place") == [("allGather", 1000 + chunk, 1000, 4, F32, 7)]
    assert _nccl_calls("reduce_scatter", "out_of_place", op="prod") == [("reduceScatter", 1000, 5000, 4, F32, 1, 7)]
    assert _nccl_calls("reduce_scatter", "in_place") == [("reduceScatter", 1000, 1000 + chunk, 4, F32, SUM, 7)]
    assert _nccl_calls("broadcast", "in_place", root=2) == [("broadcast", 1000, 1000, 12, F32, 2, 7)]
    assert _nccl_calls("reduce", "out_of_place", op="max", root=1) == [("reduce", 1000, 5000, 12, F32, 2, 1, 7)]
    assert _nccl_calls("alltoall", "out_of_place") == [
        ("groupStart",), *[c for p in range(3) for c in (("send", 1000 + p * chunk, 4, F32, p, 7),
                                                          ("recv", 5000 + p * chunk, 4, F32, p, 7))], ("groupEnd",)]
    assert _nccl_calls("sendrecv", "out_of_place") == [
        ("groupStart",), ("send", 1000, 12, F32, 2, 7), ("recv", 5000, 12, F32, 0, 7), ("groupEnd",)]
    # gather: every rank sends its chunk to the root, which receives each rank's at its place.
    assert _nccl_calls("gather", "out_of_place", rank=1, root=1) == [
        ("groupStart",), ("send", 1000, 4, F32, 1, 7),
        *[("recv", 5000 + p * chunk, 4, F32, p, 7) for p in range(3)], ("groupEnd",)]
    assert _nccl_calls("gather", "in_place", rank=2, root=0) == [
        ("groupStart",), ("send", 1000 + 2 * chunk, 4, F32, 0, 7), ("groupEnd",)]
    # scatter: the root sends each rank its chunk; every rank receives (in place: at its place).
    assert _nccl_calls("scatter", "out_of_place", rank=0, root=0) == [
        ("groupStart",), *[("send", 1000 + p * chunk, 4, F32, p, 7) for p in range(3)],
        ("recv", 5000, 4, F32, 0, 7), ("groupEnd",)]
    assert _nccl_calls("scatter", "in_place", rank=1, root=0) == [
        ("groupStart",), ("recv", 1000 + chunk, 4, F32, 0, 7), ("groupEnd",)]
    assert _nccl_calls("gather", "out_of_place", count=0) == []  # as nccl-tests: nothing for an empty one
    assert _nccl_calls("all_reduce", "out_of_place", count=0) == [("allReduce", 1000, 5000, 0, F32, SUM, 7)]


def test_nccl_version_and_interface_lines(tmp_path):
    from smbench.families.collectives import cuda

    assert cuda.version_text(23203) == "2.32.3" and cuda.version_text(22705) == "2.27.5"
    (tmp_path / "nccl.spark1.123").write_text(
        "spark1:123:123 [0] NCCL INFO NET/IB : Using [0]rocep1s0f0:1/RoCE [1]roceP2p1s0f1:1/RoCE\n"
        "spark1:123:123 [0] NCCL INFO Bootstrap : Using enP7s7:192.168.1.2<0>\n")
    assert cuda.chosen_interface(str(tmp_path)) == ["NET/IB : Using [0]rocep1s0f0:1/RoCE [1]roceP2p1s0f1:1/RoCE"]


# ---------------------------------------------------------------- one case over two ranks, against stand-ins

class _PairWorld:
    """Rank 0 of two; rank 1 answers like rank 0 but takes twice as long (or fails a step)."""

    size, rank, is_root, timeout_s = 2, 0, True, 30.0

    def __init__(self, failing_step: str = ""):
        self.failing_step = failing_step

    def barrier(self, what):
        pass

    def allgather(self, value, what):
        if what == "a sample's times":
            if self.failing_step == what:
                return [value, (None, value[1], "CUDARuntimeError: an illegal memory access")]
            return [value, (value[0] * 2, *value[1:])]
        if what == self.failing_step:
            return [value, "MemoryError: out of memory"]
        return [value, value]


class _NumpyEngine:
    """An engine whose collective 'completes' at once with the exact output of rank 0 of two
    (1 ms per call); `wrong_after` spoils the output once the timing has begun."""

    name, library, xp, timing = "stand-in", "none", np, "fake"

    def __init__(self, wrong_after: bool = False):
        self.wrong_after = wrong_after

    def prepare(self, collective, dtype, placement, send, receive, count, op="sum", root=0):
        from types import SimpleNamespace

        pattern = co.pattern_of(collective, op, dtype, 2)
        spans = {}

        def run(reps):
            spans["calls"] = spans.get("calls", 0) + reps
            seed = 1 if send[0] == co.fill(np, pattern, co.buffers(collective, placement, 0, 2, count)[0][:1], 1)[0] \
                else 2  # the seed the buffers were filled with: before the timing, or afresh after it
            out = co.fill(np, pattern, co.expected(collective, placement, 0, 2, count), seed)
            if self.wrong_after and spans["calls"] > 1:
                out[-1] = out[0] if out[0] != out[-1] else out[-1] + 1
            spans["out"] = out
            return 1e-3 * reps

        return SimpleNamespace(api="fake_" + collective, run=run, result=lambda: spans["out"], send=send,
                               receive=receive)


def _pair_case(link_key="spark-pair", size=1 << 16, placement="out_of_place", aggregate="avg"):
    from smbench.cases import Case

    count = size // 4
    return Case("collectives", "all_reduce", "all_reduce f32 1 MiB",
                {"collective": "all_reduce", "dtype": "f32", "placement": placement, "bytes": size,
                 "count": count, "param_count": count, "size_requested": size, "op": "sum", "root": None,
                 "ranks": 2, "bus_factor": 1.0, "bus_bytes": size, "figure_bytes": size,
                 "link": links.describe(links.LINKS[link_key], "test"), "sample_ms": 1.0, "max_reps": 4,
                 "time_aggregate": aggregate, "verdict_min_bytes": size})


def _policy():
    from smbench.timing import TimingPolicy

    return TimingPolicy(warmup=1, min_samples=3, max_samples=5, budget_s=0.01)


@pytest.mark.parametrize("aggregate, seconds", [("avg", 1.5e-3), ("max", 2e-3), ("min", 1e-3), ("rank0", 1e-3)])
def test_a_case_over_two_ranks_aggregates_the_ranks_times_as_nccl_tests_a_says(aggregate, seconds):
    """Rank 0 takes 1 ms a call, rank 1 2 ms: nccl-tests' -a 1 (the default) averages, -a 3 takes
    the slowest, -a 2 the fastest, -a 0 rank 0's."""
    from smbench.families.collectives import measure

    record = measure.run_case(_pair_case(aggregate=aggregate), _PairWorld(), _NumpyEngine(), _policy())
    assert record["status"] == "ok", record.get("reason")
    assert record["time_s"]["median"] == pytest.approx(seconds)
    assert record["time_aggregate"] == aggregate
    assert record["busbw_gbps"]["median"] == pytest.approx((1 << 16) / seconds / 1e9)  # 2(n-1)/n = 1 for n = 2
    assert [r["median"] for r in record["rank_time_s"]] == pytest.approx([1e-3, 2e-3])
    assert record["verdict"] == "low" and record["percent_of_link"] < 1  # 33 to 66 MB/s over two Sparks
    assert record["wrong"] == 0 and record["validation"]["after_timing"]["how"] == "the timed calls' own output"


def test_the_timed_buffers_are_checked_after_the_timing():
    """A collective that goes wrong once it is timed (the checked call was right): the case fails,
    with nccl-tests' #wrong, and its figures are not reported."""
    from smbench.families.collectives import measure

    record = measure.run_case(_pair_case(), _PairWorld(), _NumpyEngine(wrong_after=True), _policy())
    assert record["status"] == "failed" and record["validation"]["ok"]  # right before the timing
    assert "validation after the timing failed (the timed calls' own output): rank 0: 1 of" in record["reason"]
    assert record["wrong"] == 2  # the element on each of the two ranks (the stand-in world echoes rank 0)


def test_in_place_reductions_are_checked_after_the_timing_on_fresh_inputs():
    """In place, the timed calls reduced their own results again: nccl-tests fills the buffers
    afresh and checks one more call; so does smbench, with another seed (stale data cannot pass)."""
    from smbench.families.collectives import measure

    record = measure.run_case(_pair_case(placement="in_place"), _PairWorld(), _NumpyEngine(), _policy())
    assert record["status"] == "ok", record.get("reason")
    assert record["validation"]["after_timing"]["how"].startswith("fresh inputs (another seed)")
    record = measure.run_case(_pair_case(placement="in_place"), _PairWorld(), _NumpyEngine(wrong_after=True), _policy())
    assert record["status"] == "failed" and "fresh inputs" in record["reason"]


def test_a_step_that_fails_on_one_rank_fails_the_case_on_every_rank():
    from smbench.families.collectives import measure
    from smbench.timing import TimingPolicy

    record = measure.run_case(_pair_case(), _PairWorld("setting up the buffers"), _NumpyEngine(), TimingPolicy())
    assert record["status"] == "failed"
    assert record["reason"] == "setting up the buffers failed on rank 1: MemoryError: out of memory"


# ---------------------------------------------------------------- the plan over two ranks, against stand-ins

def _gpu_plan(monkeypatch, world, free=16 * co.GIB):
    from types import SimpleNamespace

    from smbench.families.collectives import family

    monkeypatch.setattr(ranks, "world", lambda: world)
    runner = SimpleNamespace(name="cuda", info={"free_bytes": free, "name": "NVIDIA H200"},
                             part=lambda name: SimpleNamespace(ENGINE="NCCL", unsupported=lambda *a: "",
                                                               size_cap=nccl.size_cap, ONE_HOST=nccl.ONE_HOST))
    from pathlib import Path

    from smbench.suites import Suite

    suite = Suite("test", Path("test.toml"), "", {"collectives": {"collectives": ["all_reduce"], "dtypes": ["f32"],
                                                                  "placements": ["in_place"],
                                                                  "smallest_bytes": 1 << 20}})
    return family.plan(suite, runner)


def test_the_gpu_sweep_is_capped_by_the_rank_with_the_least_free_memory(monkeypatch):
    part = _gpu_plan(monkeypatch, _TwoRanks({"the free GPU memory": lambda free: free // 4}))
    assert part.cases[-1].params["bytes"] == 4 * co.GIB // 16  # rank 1's 4 GiB, not rank 0's 16
    assert "rank 1's, the least" in part.notes["collectives_sweep_cap"]


def test_ranks_that_plan_different_sweeps_stop_with_one_line(monkeypatch):
    world = _TwoRanks({"the collectives plan": lambda mine: {**mine, "cases": mine["cases"] - 1}})
    with pytest.raises(SmbenchError, match="do not agree on the collectives plan: rank 1 has cases"):
        _gpu_plan(monkeypatch, world)


def test_a_sample_that_fails_on_one_rank_fails_the_case_on_every_rank_with_its_reason():
    from smbench.families.collectives import measure
    from smbench.timing import TimingPolicy

    record = measure.run_case(_pair_case(), _PairWorld("a sample's times"), _NumpyEngine(), TimingPolicy())
    assert record["status"] == "failed"
    assert record["reason"] == "a timed sample failed on rank 1: CUDARuntimeError: an illegal memory access"


def test_an_engine_that_fails_to_start_on_one_rank_is_named_on_every_rank(monkeypatch):
    from types import SimpleNamespace

    from smbench.families.collectives import family

    monkeypatch.setattr(ranks, "world", lambda: _PairWorld("starting NCCL"))
    runner = SimpleNamespace(part=lambda name: SimpleNamespace(ENGINE="NCCL", engine=lambda world, r: _NumpyEngine()))
    record = family.run(_pair_case(), runner, None)
    assert record["status"] == "failed"
    assert record["reason"] == "starting NCCL failed on rank 1: MemoryError: out of memory"


def test_an_nccl_init_that_never_completes_ends_within_the_timeout():
    import threading
    import time
    from types import SimpleNamespace

    from smbench.families.collectives import cuda

    never = threading.Event()
    nccl = SimpleNamespace(NcclCommunicator=lambda size, uid, rank: never.wait())  # a rank that never joins
    start = time.monotonic()
    with pytest.raises(ranks.RankLost, match="ncclCommInitRank did not complete within 0.2 s on rank 0"):
        cuda._communicator(nccl, SimpleNamespace(size=2, rank=0, timeout_s=0.2), b"id")
    assert time.monotonic() - start < 2
    never.set()


def test_the_summary_fits_the_terminal_of_whoever_watches_a_launch():
    """Under mpiexec rank 0's stdout is a pipe even at a terminal: 80 columns, or COLUMNS."""
    from smbench import cli

    assert cli._table_width(False, 2, {}) == 80
    assert cli._table_width(False, 3, {"COLUMNS": "120"}) == 120
    assert cli._table_width(False, 1, {"COLUMNS": "120"}) == 160  # one process piped: a file, as before


def test_cupy_without_nccl_is_a_skipped_row_with_the_hint(monkeypatch):
    """Every call would fail with an AttributeError: one skipped row per case says why."""
    import types

    from smbench import cases
    from smbench.families.collectives import cuda, family

    monkeypatch.setattr(cuda, "_ENGINE", None)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", types.SimpleNamespace(available=False))
    monkeypatch.setitem(sys.modules, "cupy.cuda", types.SimpleNamespace(nccl=sys.modules["cupy.cuda.nccl"]))
    runner = types.SimpleNamespace(name="cuda", part=lambda name: cuda, backend=types.SimpleNamespace(_cupy=lambda: None))
    case = _pair_case()
    case.params["ranks"] = 1
    with pytest.raises(cases.Skip, match="no NCCL library.*smbench\\[collectives\\]"):
        family.run(case, runner, None)  # smbench.run.run_case makes the Skip a skipped row


@pytest.mark.parametrize("collective", sorted(co.COLLECTIVES))
def test_the_output_is_checked_piece_by_piece_as_a_whole(collective):
    """A 1 GiB int8 buffer is made and checked in pieces (memory a few times a piece, not the
    buffer): the pieces' values are the whole one's, and a wrong element is found at its place in
    the whole output, on every rank (off the root too: its buffer must be left as it was)."""
    n, count = 3, 3 * 40
    pat = co.pattern_of(collective, "max", "int8", n)
    for placement in co.COLLECTIVES[collective].placements:
        for rank in range(n):
            want = co.expected(collective, placement, rank, n, count, root=1)
            whole = co.fill(np, pat, want, SEED)
            assert np.array_equal(co.fill(np, pat, want, SEED, piece=7), whole)
            assert co.check_output(np, pat, want, whole, SEED, piece=7) == \
                {"ok": True, "checked": co.length(want), "wrong": 0}
            spoiled = whole.copy()
            spoiled[len(whole) - 2] += 1
            found = co.check_output(np, pat, want, spoiled, SEED, piece=7)
            assert not found["ok"] and found["wrong"] == 1 and found["first"] == len(whole) - 2
