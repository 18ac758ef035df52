"""The links a collective can cross, with the bandwidth a busbw is held to: one table.

busbw (nccl-tests) is comparable with one direction of the slowest link each rank uses, so
every figure here is GB/s per direction per GPU (or per host): a figure published for both
directions together (full duplex, "bidirectional") is halved. Kinds: V vendor, D derived from
a standard, M measured by others. Sources as in the project's facts (Interconnect).

A DGX Spark pair is held to what NVIDIA's NCCL playbook for two Sparks says NCCL reaches over
one QSFP cable, not to the ports' line rate; the slower links a low Spark figure can be named
after are the Spark's own (the management port, whose speed the sources give as 10 GbE and as
1 GbE, both named; one half of the cabled port).
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
    short: str = ""  # a few words for a table cell
    spark: bool = False  # one of a DGX Spark's own links (a Spark figure is named after these only)
    says: str = ""  # where there are several figures: what the first one is
    also: tuple[tuple[float, str], ...] = ()  # other figures the sources give for the same link: (GB/s, what)
    hint: str = ""  # what to do when a figure looks like this link

    def figures(self) -> list[float]:
        return [self.gbps, *(g for g, _ in self.also)] if self.gbps else []

    @property
    def named(self) -> str:
        """The link with its figure(s): `the Spark's RJ-45 management port (10 GbE per ..., 1.25 GB/s;
        or 1 GbE per ..., 0.125 GB/s)`."""
        if not self.also:
            return f"{self.name} ({self.gbps:g} GB/s)"
        others = "; ".join(f"or {what}, {g:g} GB/s" for g, what in self.also)
        return f"{self.name} ({self.says}, {self.gbps:g} GB/s; {others})"


SPARK_PLAYBOOK = ("NVIDIA's NCCL playbook for two Sparks (github NVIDIA/dgx-spark-playbooks, nvidia/nccl): full "
                  "bandwidth with one QSFP cable, all_reduce busbw about 20-24 GB/s")

LINKS = {link.key: link for link in (
    Link("nvlink5", "NVLink 5 (B200)", 900.0, "V", "NVIDIA: 1.8 TB/s bidirectional per GPU, half each way",
         "NVLink 5"),
    Link("nvlink4", "NVLink 4 (H100/H200)", 450.0, "V", "NVIDIA: 900 GB/s bidirectional per GPU, half each way",
         "NVLink 4"),
    Link("pcie5", "PCIe gen5 x16", 63.0, "D", "PCI-SIG: 32 GT/s x 16 lanes, 128b/130b, one way", "PCIe 5"),
    Link("pcie4", "PCIe gen4 x16", 31.5, "D", "PCI-SIG: 16 GT/s x 16 lanes, 128b/130b, one way", "PCIe 4"),
    Link("spark-pair", "two DGX Sparks, ConnectX-7 RoCE over one QSFP cable", 24.0, "V",
         f"{SPARK_PLAYBOOK}; held to the top of that range", "Spark pair", spark=True),
    Link("spark-half-port", "one half of a Spark's ConnectX-7 port (one PCIe Gen5 x4 path)", 12.5, "M",
         "servethehome.com, 'The NVIDIA GB10 ConnectX-7 200GbE Networking is Really Different': each port is two "
         "PCIe Gen5 x4 paths of about 100 Gbit/s", "half a port", spark=True,
         hint="name both halves of the cabled port in NCCL_IB_HCA (e.g. rocep1s0f1,roceP2p1s0f1)"),
    Link("spark-management", "the Spark's RJ-45 management port", 1.25, "V",
         "10 GbE = 1.25 GB/s per catharsis.net.au; 1 GbE = 0.125 GB/s per dgx-spark.warehack.ing (the sources "
         "disagree; a verdict names both)", "mgmt port", spark=True, says="10 GbE per catharsis.net.au",
         also=((0.125, "1 GbE per dgx-spark.warehack.ing"),),
         hint="NCCL moved the data over the management interface: name the ConnectX-7 RoCE devices in "
              "NCCL_IB_HCA (docs/collectives.md, the two-Spark recipe)"),
    Link("200gbe", "one 200 GbE port (ConnectX-7)", 25.0, "V", "200 Gbit/s = 25 GB/s per port", "200 GbE"),
    Link("100gbe", "100 GbE", 12.5, "V", "100 Gbit/s = 12.5 GB/s", "100 GbE"),
    Link("10gbe", "10 GbE", 1.25, "V", "10 Gbit/s = 1.25 GB/s", "10 GbE"),
    Link("1gbe", "1 GbE", 0.125, "V", "1 Gbit/s = 0.125 GB/s", "1 GbE"),
    Link("shm", "shared memory within one host", None, "D",
         "MPI between processes of one host: no fixed figure (the host's memory bandwidth bounds it)", "shm"),
)}
# Keys of earlier versions: 200gbe-x2 was both 200 GbE ports of a Spark, 50 GB/s, which no two
# Sparks reach (the playbook's figure is NCCL's over one cable).
ALIASES = {"200gbe-x2": "spark-pair"}

# Figures others measured or published for a link, drawn beside smbench's own: (link key, what, GB/s
# one way, kind, source).
PUBLISHED = (
    ("spark-pair", "NVIDIA playbook, all_reduce busbw, one cable (low end)", 20.0, "V", SPARK_PLAYBOOK),
    ("spark-pair", "two cables, all_reduce busbw (forum report)", 25.67, "M",
     "NVIDIA developer forum report cited in the project's facts"),
    ("spark-pair", "RDMA 340 Gbit/s full duplex = 170 Gbit/s each way", 340 / 2 / 8, "M",
     "catharsis.net.au, 'From 96 to 340 Gbit/s: Benchmarking a Two-Node DGX Spark Cluster' (both directions "
     "added there: halved here)"),
    ("spark-pair", "iperf3 TCP untuned, one way", 96 / 8, "M", "the same write-up"),
)

NORMAL_FRACTION = 0.6  # busbw at or above this share of the link is 'normal'
HIGH_FRACTION = 1.1  # above this share: 'suspicious-high'
LOOKS_LIKE_FRACTION = 0.5  # below this share, say which link the figure looks like
# A slower link is named only if it could have produced the figure: busbw within this share of it.
PLAUSIBLE = (0.3, 1.1)


def lookup(key: str) -> Link | None:
    return LINKS.get(ALIASES.get(key, key))


@dataclass(frozen=True)
class Inferred:
    """A link inferred from where the ranks are, and how (None: not known, and what to set)."""

    link: Link | None
    why: str


def choose(setting: str, ranks: int, hosts: int, one_host: Inferred,
           device_names: list[str]) -> tuple[Link | None, str]:
    """(the link a busbw is held to, how it was chosen): the suite's or --set's
    collectives.link, else inferred from where the ranks are (`one_host`: the backend's
    engine's link when every rank is on one host)."""
    if setting != "auto":
        link = lookup(setting)
        if link is None:
            raise SmbenchError(f"collectives.link = {setting!r}: one of auto, {', '.join(LINKS)}")
        renamed = f" (the earlier name of {link.key})" if setting in ALIASES else ""
        return link, f"collectives.link = {setting}{renamed}"
    if ranks == 1:
        return None, "one rank: nothing crosses a link"
    if hosts == 1:
        return one_host.link, one_host.why
    if all("GB10" in (name or "") for name in device_names):
        more = "" if hosts == 2 else f" (the playbook's figure is for two; these are {hosts})"
        return LINKS["spark-pair"], f"inferred: DGX Spark (GB10) ranks on {hosts} hosts, ConnectX-7 RoCE{more}"
    return None, ("inferred: several hosts on a network not known here; say which with --set collectives.link="
                  "200gbe (or 100gbe, ...)")


def looks_like(gbps: float, expected: Link) -> Link | None:
    """The slower link that could have produced a busbw far below the expected link's (busbw
    within PLAUSIBLE of one of its figures), the nearest by ratio; None if none could. A Spark
    figure is named after the Spark's own links, any other after the general ones."""
    low, high = PLAUSIBLE
    if gbps <= 0:
        return None
    candidates = [(abs(math.log(gbps / figure)), number, link)
                  for number, link in enumerate(LINKS.values())
                  if link.gbps and link.spark == expected.spark and link.gbps < (expected.gbps or math.inf)
                  for figure in link.figures() if low * figure <= gbps <= high * figure]
    return min(candidates)[2] if candidates else None


@dataclass(frozen=True)
class Verdict:
    verdict: str  # normal, low, suspicious-high, no expectation
    percent: float | None  # of the link's figure
    like: Link | None = None  # the slower link a low figure looks like

    @property
    def words(self) -> str:
        """`looks like the Spark's RJ-45 management port (10 GbE ..., 1.25 GB/s; or 1 GbE ..., 0.125 GB/s)`."""
        return f"looks like {self.like.named}" if self.like else ""

    @property
    def advice(self) -> str:
        return self.like.hint if self.like else ""


def verdict(busbw: float, link: Link | None) -> Verdict:
    """The verdict on a busbw at a size large enough to judge."""
    if link is None or not link.gbps:
        return Verdict("no expectation", None)
    share = busbw / link.gbps
    if share >= NORMAL_FRACTION:
        return Verdict("normal" if share <= HIGH_FRACTION else "suspicious-high", 100 * share)
    return Verdict("low", 100 * share, looks_like(busbw, link) if share < LOOKS_LIKE_FRACTION else None)


def describe(link: Link | None, why: str) -> dict:
    if link is None:
        return {"key": None, "chosen_by": why}
    return {"key": link.key, "name": link.name, "gbps": link.gbps, "kind": link.kind, "source": link.source,
            "chosen_by": why}
