"""Reading many cubins' SASS in one nvdisasm call per architecture (smbench.sass_batch) gives
exactly what cuobjdump gives for each cubin alone, and a group it cannot read whole is left to
cuobjdump, never half-read."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from conftest import KERNELS
from smbench import compat, sass, sass_batch, toolchain
from smbench.cache import Cache
from smbench.compile import compile_file

pytestmark = pytest.mark.needs_sass


@pytest.fixture(scope="module")
def cubins(builtin_matrix) -> dict[str, bytes]:
    """Cubins with what a reading can get wrong: several functions (addresses and branch
    targets relative to each), loops, and an emulation routine called from a kernel (mma.cu on
    sm_90: s4 mma through __cuda_sm_9x_mma_sub_byte_*). Built as a run builds them (the
    peak family's tests build the same)."""
    built = {}
    for name, target in (("mma.cu", "sm_90"), ("mma.cu", "sm_120a"), ("latency.cu", "sm_80")):
        result = compile_file(KERNELS / name, target)
        assert result.ok, result.log
        built[f"{name}/{target}"] = result.cubin
    return built


@pytest.fixture(scope="module")
def alone(cubins) -> dict[str, dict]:
    """Each cubin as cuobjdump -sass -res-usage reads it alone (sass's own reading)."""
    return {where: sass._summaries_of(cubin) for where, cubin in cubins.items()}


def test_one_call_per_architecture_reads_what_cuobjdump_reads(cubins, alone, tmp_path, monkeypatch):
    calls = []
    decode = sass_batch._decode
    monkeypatch.setattr(sass_batch, "_decode", lambda *args: calls.append(args[1]) or decode(*args))
    fresh = Cache(tmp_path)
    read = sass_batch.summarize_many(cubins.values(), fresh)
    assert sorted(calls) == ["SM120a", "SM80", "SM90a"]
    assert len(read) == len(cubins)
    for where, cubin in cubins.items():
        assert read[sass.summary_key(cubin)] == alone[where], where
        assert fresh.get("sass", sass.summary_key(cubin)) == alone[where], where
        kernels = sass.Summaries({n: sass.KernelSass.from_dict(d) for n, d in alone[where].items()})
        assert any(k.loops for k in kernels.values()), where  # the planted hazards are present
    assert sass_batch.summarize_many(cubins.values(), fresh) == {}  # in the cache: nothing read again


def _nvdisasm_that_drops_a_line(tmp_path: Path) -> toolchain.Located:
    """A stand-in nvdisasm: the real one's listing, less its last instruction."""
    real = toolchain.find_binary_utility("nvdisasm")
    script = tmp_path / "nvdisasm"
    script.write_text(f'#!/bin/sh\n"{real.path}" "$@" | sed \'$d\'\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return toolchain.Located(script, "test")


def test_a_group_not_read_whole_is_left_to_cuobjdump(cubins, alone, tmp_path, monkeypatch):
    stand_in = _nvdisasm_that_drops_a_line(tmp_path)
    find = toolchain.find_binary_utility
    monkeypatch.setattr(sass_batch.toolchain, "find_binary_utility",
                        lambda name: stand_in if name == "nvdisasm" else find(name))
    fresh = Cache(tmp_path / "cache")
    cubin = cubins["latency.cu/sm_80"]
    assert sass_batch.summarize_many([cubin], fresh) == {}
    assert fresh.get("sass", sass.summary_key(cubin)) is None  # nothing half-read was kept
    assert {n: k.to_dict() for n, k in sass.summarize(cubin, fresh).items()} == alone["latency.cu/sm_80"]


def test_threads_that_ask_together_are_read_in_one_batch(cubins, alone, tmp_path, monkeypatch):
    """The matrix's case: each thread asks for its cubin's summary; the reading waits until every
    thread at work is waiting, then reads them all, one nvdisasm per architecture."""
    rounds = []
    read_groups = sass_batch._read_groups
    monkeypatch.setattr(sass_batch, "_read_groups", lambda batch, *rest: rounds.append(len(batch)) or
                        read_groups(batch, *rest))
    batcher = sass_batch.Batcher(Cache(tmp_path), jobs=2)
    got: dict[str, dict] = {}
    start = threading.Barrier(len(cubins) + 1)

    def ask(where: str, cubin: bytes) -> None:
        def work():
            start.wait()
            got[where] = {n: k.to_dict() for n, k in batcher.summarize(cubin).items()}
        batcher.task(work)

    def finish_early() -> None:  # a task that never asks must not hold the others back
        batcher.task(start.wait)

    threads = [threading.Thread(target=ask, args=item) for item in cubins.items()]
    threads.append(threading.Thread(target=finish_early))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert rounds == [len(cubins)]
    for where in cubins:
        assert got[where] == alone[where], where


def test_the_matrix_reads_its_sass_in_batches(builtin_matrix, tmp_path, monkeypatch):
    """compat.run on a cold cache: its builds' SASS comes from batches, not from a
    cuobjdump -sass per cubin."""
    monkeypatch.setenv("SMBENCH_CACHE_DIR", str(tmp_path))
    alone = []
    run_cuobjdump = sass.run_cuobjdump
    monkeypatch.setattr(sass, "run_cuobjdump", lambda cubin, *what: alone.append(what) or run_cuobjdump(cubin, *what))
    units = [u for u in compat.builtin_units() if u.name in ("timing.cu", "stream.cu")]
    targets = [compat.target_table.get(name) for name in ("sm_80", "sm_90a", "sm_121a")]
    report = compat.run(units, targets)
    assert all(cell.status == "ok" for cell in report.cells)
    assert alone and all(what == ("-res-usage",) for what in alone)  # resources only: no SASS read alone
    assert {c.target for c in report.cells if c.kernel == "triad" or c.kernel.startswith("stream")} == {
        "sm_80", "sm_90a", "sm_121a"}
