"""The links a collective can cross, with the bandwidth a busbw is held to: one table.

busbw (nccl-tests) is comparable with one direction of the slowest link each rank uses,
so every figure here is GB/s per direction per GPU (or per host). Kinds: V vendor, D
derived from a standard, M measured by others. Sources as in the project's facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smbench.errors import SmbenchError


@dataclass(frozen=True)
class Link:
    key: str
    name: str
    gbps: float | None  # GB/s one way; None: no fixed figure (shared memory)
    kind: str
    source: str


LINKS = {link.key: link for link in (
    Link("nvlink5", "NVLink 5 (B200)", 900.0, "V",
         "NVIDIA: 1.8 TB/s bidirectional per GPU, half each way"),
    Link("nvlink4", "NVLink 4 (H100/H200)", 450.0, "V",
         "NVIDIA: 900 GB/s bidirectional per GPU, half each way"),
    Link("pcie5", "PCIe gen5 x16", 63.0, "D", "PCI-SIG: 32 GT/s x 16 lanes, 128b/130b, one way"),
    Link("pcie4", "PCIe gen4 x16", 31.5, "D", "PCI-SIG: 16 GT/s x 16 lanes, 128b/130b, one way"),
    Link("200gbe-x2", "both 200 GbE ports of a DGX Spark's ConnectX-7", 50.0, "V",
         "NVIDIA 'Connect two Sparks' playbook: two 200 GbE QSFP ports, 25 GB/s each"),
    Link("200gbe", "one 200 GbE port (ConnectX-7)", 25.0, "V", "200 Gbit/s = 25 GB/s per port"),
    Link("100gbe", "100 GbE", 12.5, "V", "100 Gbit/s = 12.5 GB/s"),
    Link("1gbe", "the 1 GbE management port", 0.125, "V",
         "1 Gbit/s = 0.125 GB/s (NCCL picks it unless NCCL_SOCKET_IFNAME says otherwise)"),
    Link("shm", "shared memory within one host", None, "D",
         "MPI between processes of one host: no fixed figure (the host's memory bandwidth bounds it)"),
)}

# Figures others measured on a link, drawn beside smbench's own: (link key, what, GB/s, kind, source).
PUBLISHED = (
    ("200gbe-x2", "two Sparks, RDMA GPU to GPU", 340 / 8, "M",
     "catharsis.net.au, 'From 96 to 340 Gbit/s: Benchmarking a Two-Node DGX Spark Cluster'"),
    ("200gbe-x2", "two Sparks, iperf3 TCP untuned", 96 / 8, "M", "the same write-up"),
)

NORMAL_FRACTION = 0.6  # busbw at or above this share of the link is 'normal'
LOOKS_LIKE_FRACTION = 0.5  # below this share, say which link the figure looks like
# A slower link is named only if it could have produced the figure: busbw within this share of it.
PLAUSIBLE = (0.3, 1.1)


def choose(setting: str, ranks: int, hosts: int, backend: str, device_names: list[str]) -> tuple[Link | None, str]:
    """(the link a busbw is held to, how it was chosen): the suite's or --set's
    collectives.link, else inferred from where the ranks are."""
    if setting != "auto":
        if setting not in LINKS:
            raise SmbenchError(f"collectives.link = {setting!r}: one of auto, {', '.join(LINKS)}")
        return LINKS[setting], f"collectives.link = {setting}"
    if ranks == 1:
        return None, "one rank: nothing crosses a link"
    if hosts == 1:
        if backend == "cpu":
            return LINKS["shm"], "inferred: every rank on one host, CPU path (MPI through shared memory)"
        return None, ("inferred: every GPU in one host, but NVLink or PCIe is not known here; "
                      "say which with --set collectives.link=nvlink4 (or pcie5, ...)")
    if all("GB10" in (name or "") for name in device_names):
        return LINKS["200gbe-x2"], "inferred: DGX Spark (GB10) ranks on several hosts, the ConnectX-7's two ports"
    return None, ("inferred: several hosts on a network not known here; say which with --set collectives.link="
                  "200gbe (or 100gbe, ...)")


def looks_like(gbps: float, expected: Link) -> Link | None:
    """The slower link of the table that could have produced a busbw far below the expected
    link's (busbw within PLAUSIBLE of its figure), the nearest by ratio; None if none could."""
    low, high = PLAUSIBLE
    slower = [link for link in LINKS.values() if link.gbps and link.gbps < (expected.gbps or math.inf)
              and low * link.gbps <= gbps <= high * link.gbps]
    if gbps <= 0 or not slower:
        return None
    return min(slower, key=lambda link: abs(math.log(gbps / link.gbps)))


def verdict(busbw: float, link: Link | None) -> tuple[str, float | None, str]:
    """(verdict, percent of the link, the words after it) for a busbw at a size large enough to judge."""
    if link is None or not link.gbps:
        return "no expectation", None, ""
    share = busbw / link.gbps
    if share >= NORMAL_FRACTION:
        return ("normal" if share <= 1.1 else "suspicious-high"), 100 * share, ""
    nearer = looks_like(busbw, link) if share < LOOKS_LIKE_FRACTION else None
    return "low", 100 * share, (f"looks like {nearer.name} ({nearer.gbps:g} GB/s)" if nearer else "")


def describe(link: Link | None, why: str) -> dict:
    if link is None:
        return {"key": None, "chosen_by": why}
    return {"key": link.key, "name": link.name, "gbps": link.gbps, "kind": link.kind, "source": link.source,
            "chosen_by": why}
