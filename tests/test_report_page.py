"""The report as a page people read (issue 27, item 5): rendered by headless Chromium at 1280 pixels,
nothing wider than the window, every file it was built from named, every figure with its caption;
two reports never overwrite each other in one --out.

Chromium is Debian's `chromium` (.ci/run installs it); where it is absent the page test skips and
says why, unless SMBENCH_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess

import pytest

from smbench import reference, report

from conftest import ROOT, run_cli_here

RESULTS = ROOT / "results"
CPU_RUN = RESULTS / "cpu-reference-quick-x86_64-2cpu.json"
COMPAT = RESULTS / "compat-nvrtc13.5.json"
WIDTH = 1280
# The flags that work on a machine with no display, no sandbox and no network.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")
# Added to a copy of the page only: the widest thing laid out, written where --dump-dom shows it.
PROBE = ("<script>var right=0;document.querySelectorAll('body *').forEach(function(e){"
         "right=Math.max(right,e.getBoundingClientRect().right);});"
         "document.title='scroll='+document.documentElement.scrollWidth+' right='+Math.ceil(right);</script>")


def _browser() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The report of the committed CPU run beside the default published devices, built once."""
    out = tmp_path_factory.mktemp("page")
    files = [CPU_RUN, COMPAT]
    code, stdout, err = run_cli_here("report", *map(str, files), "--out", str(out / "report"))
    assert code == 0, err
    return out / "report", files


def _chromium(tmp_path, *arguments: str) -> subprocess.CompletedProcess:
    browser = _browser()
    if browser is None:
        if os.environ.get("SMBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail("SMBENCH_REQUIRE_BROWSER=1 but no chromium on PATH (.ci/run installs Debian's chromium)")
        pytest.skip("no chromium on PATH: the page is not rendered here (apt-get install -y chromium)")
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *arguments],
                          capture_output=True, text=True, timeout=120)


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_the_page_fits_1280_pixels_and_names_every_file(page, tmp_path):
    directory, files = page
    html = (directory / "report.html").read_text(encoding="utf-8")
    probe = directory / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = _chromium(tmp_path, f"--window-size={WIDTH},900", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r"<title>scroll=(\d+) right=(\d+)</title>", done.stdout)
    assert found, done.stdout[:500]
    scroll, right = map(int, found.groups())
    assert scroll <= WIDTH and right <= WIDTH, f"the page is {scroll} px wide, its widest element ends at {right} px"
    text = re.sub(r"<[^>]+>", " ", done.stdout)
    for path in files:
        assert str(path) in text, path  # every file given is named, as given
    for key in report.DEFAULT_AGAINST:
        assert reference.file_name(key) in text, key  # and every published device's source file
    shot = tmp_path / "page.png"
    done = _chromium(tmp_path, f"--window-size={WIDTH},2400", f"--screenshot={shot}", (directory / "report.html").as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    assert _png_size(shot) == (WIDTH, 2400)


def test_every_figure_has_a_caption_that_says_what_it_shows(page):
    directory, _ = page
    html = (directory / "report.html").read_text(encoding="utf-8")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    images = html.count("data:image/png;base64,")
    assert images >= 4 and len(captions) == images
    for caption in captions:
        assert len(caption.split()) >= 6, caption  # a sentence, not a file stem
    assert any("Roofline" in caption for caption in captions)


def test_the_tables_are_tables_and_wide_ones_are_transposed(page):
    directory, _ = page
    text = (directory / "report.md").read_text(encoding="utf-8")
    host = text[text.index("## Host CPU files"):text.index("## What a local-LLM user")]
    assert "| file | family | says |" in host and "\n- " not in host  # a table, not bullets
    assert "\n| device | what | backend |" in text[text.index("## Environment"):]
    throughput = text[text.index("## Throughput per precision"):]
    header = throughput.splitlines()[2]
    assert header.startswith("| figure |") and header.count("|") <= 9  # a column per device, not per figure
    assert "| FP4 tensor |" in throughput


def test_a_second_report_into_one_out_is_refused_unless_replace(tmp_path, monkeypatch):
    from smbench import plots

    # What is drawn is not the point here (the page test draws it): a stand-in keeps this test short.
    def drawn(named, matrices, out):
        out.mkdir(parents=True, exist_ok=True)
        (out / "drawn.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        return [out / "drawn.png"]

    monkeypatch.setattr(plots, "plot_all", drawn)
    files = [str(RESULTS / reference.file_name("gb10"))]
    out = tmp_path / "r"
    assert run_cli_here("report", *files, "--out", str(out))[0] == 0
    first = (out / "report.html").read_text()
    code, _, err = run_cli_here("report", str(RESULTS / reference.file_name("h100-sxm")), "--out", str(out))
    assert code == 2 and "exists" in err and "--replace" in err and len(err.strip().splitlines()) == 1
    assert (out / "report.html").read_text() == first  # untouched
    code, _, err = run_cli_here("report", str(RESULTS / reference.file_name("h100-sxm")), "--out", str(out),
                                "--replace")
    assert code == 0, err
    assert "reference-h100-sxm.json" in (out / "report.html").read_text()
