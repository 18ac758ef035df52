"""The transfer family on a GPU: cudaMemcpyAsync between host and device memory, timed
behind the blocking kernel where the copy allows it, validated from the stream patterns."""

from __future__ import annotations

import numpy as np

from smbench.backends import cuda as backend
from smbench.families import stream
from smbench.families.stream import cuda as stream_cuda
from smbench.families.transfer.part import Copied
from smbench.timing import TimingPolicy


def transfer_blocked(host_kind: str) -> bool:
    """Whether a copy's samples wait behind the blocking kernel. Not from pageable memory:
    such a cudaMemcpyAsync returns only when the copy is done (or staged), so the host would
    wait for the spinning kernel that waits for the host. At the sizes copied (MiB and up)
    the host's issue cost is noise beside the copy."""
    return host_kind != "pageable"


def time_transfer(direction: str, host_kind: str, nbytes: int, policy: TimingPolicy) -> Copied:
    """cudaMemcpyAsync of nbytes: host-to-device or device-to-host from pinned or pageable host
    memory, or device-to-device (the copy engine's figure beside the SM-driven stream copy)."""
    cupy = backend._cupy()
    runtime = cupy.cuda.runtime
    elements = nbytes // 4
    pinned = None
    device = cupy.empty(elements, dtype=cupy.float32)
    if direction == "d2d":
        source = cupy.empty(elements, dtype=cupy.float32)
        stream_cuda.fill_pattern(source, "a")
        device.fill(np.float32(np.nan))
        kind, dst, src = runtime.memcpyDeviceToDevice, device.data.ptr, source.data.ptr
        host = None
    else:
        if host_kind == "pinned":
            pinned = cupy.cuda.alloc_pinned_memory(nbytes)
            host = np.frombuffer(pinned, dtype=np.float32, count=elements)
        else:
            host = np.empty(elements, dtype=np.float32)
        if direction == "h2d":
            stream_cuda.fill_pattern_on_host(host, "a")
            kind, dst, src = runtime.memcpyHostToDevice, device.data.ptr, host.ctypes.data
        else:
            stream_cuda.fill_pattern(device, "a")
            host[:] = np.nan
            kind, dst, src = runtime.memcpyDeviceToHost, host.ctypes.data, device.data.ptr
    runtime.deviceSynchronize()  # the fills ran on the default stream; the copies use another
    current = cupy.cuda.Stream(non_blocking=True)
    timer = backend.DeviceTimer(current)
    try:
        stats = backend.time_calls(timer, lambda: runtime.memcpyAsync(dst, src, nbytes, kind, current.ptr), policy, reps=1,
                           blocking=transfer_blocked(host_kind))
    finally:
        timer.close()
    current.synchronize()
    checked = stream.check_indices(elements)
    got = host[checked] if direction == "d2h" else cupy.asnumpy(device[cupy.asarray(checked)])
    validation = stream.validate_elements("copy", np.float32, checked, got)
    del pinned
    return Copied(stats, validation)
