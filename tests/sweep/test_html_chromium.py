"""The HTML report opened in real headless Chromium: its charts render, fit, and raise no errors."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from lambdabench.ledger import Ledger
from lambdabench.report import _PALETTE, build_report, render
from lambdabench.report.svg import PHASE_FILL
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim
from tests.report import ledgers as L
from tests.sweep.test_sweep import Work

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# the flags that keep headless Chromium off the network (/work/.library/env/machines/python.md)
QUIET = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# Test-only instrumentation around the report (the report itself has no scripts): collect page
# errors, then measure every <svg> and every text inside it once laid out.
CATCH = """<script>
window.__errors = [];
window.addEventListener('error', e => __errors.push(String(e.message || (e.target && (e.target.src || e.target.href)))), true);
const __error = console.error; console.error = (...a) => { __errors.push(a.join(' ')); __error(...a); };
</script>"""
MEASURE = """<script>
(function () {
  const svgs = [];
  for (const svg of document.querySelectorAll('svg')) {
    const r = svg.getBoundingClientRect();
    const outside = [];
    for (const el of svg.querySelectorAll('text')) {
      const b = el.getBoundingClientRect();
      if (b.left < r.left - 1 || b.top < r.top - 1 || b.right > r.right + 1 || b.bottom > r.bottom + 1)
        outside.push(el.textContent.slice(0, 60));
    }
    svgs.push({label: svg.getAttribute('aria-label'), width: r.width, height: r.height,
               left: r.left, right: r.right, marks: svg.querySelectorAll('polyline,rect,circle,polygon').length,
               outside: outside});
  }
  const pre = document.createElement('pre');
  pre.id = 'measure';
  pre.textContent = JSON.stringify({svgs: svgs, errors: window.__errors,
    width: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth});
  document.body.appendChild(pre);
})();
</script>"""


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode a non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6)
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, channels, rows


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash .ci/setup installs it)")
def test_html_report_charts_render_in_chromium(simenv: Sim, tmp_path: Path) -> None:
    lab = simenv.lab()
    result = lab.sweep(SweepRequest("a10,h100", "gpu-probe", {}), phase=Work(), install_signal_handlers=False)
    page = tmp_path / "report.html"
    page.write_text(render(build_report(lab.ledger, [result.sweep_id]), "html"))
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and text.count("<svg") >= 2
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            "--window-size=900,1600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists(), proc.stderr.decode(errors="replace")[-2000:]
    width, channels, rows = png_pixels(shot.read_bytes())
    bar_colours = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in _PALETTE}
    counts = 0
    for row in rows:
        for x in range(0, len(row), channels):
            if tuple(row[x : x + 3]) in bar_colours:
                counts += 1
    # several bars of at least a few hundred pixels each were painted
    assert counts > 2000, f"only {counts} bar-coloured pixels: the charts did not render"
    lab.close()


def measure(page: Path, tmp: Path) -> dict[str, Any]:
    """Open the report with the measuring script in Chromium and read back what it found."""
    probe = tmp / f"measure-{page.name}"
    text = page.read_text()
    probe.write_text(text.replace("<head>", "<head>" + CATCH, 1).replace("</body>", MEASURE + "</body>", 1))
    proc = subprocess.run(
        [
            CHROMIUM or "chromium",
            *QUIET,
            f"--user-data-dir={tmp / 'profile-m'}",
            "--window-size=1400,3000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    found = re.search(r'<pre id="measure">(.*?)</pre>', proc.stdout.decode(errors="replace"), re.S)
    assert found, proc.stderr.decode(errors="replace")[-2000:]
    doc: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return doc


def screenshot(page: Path, tmp: Path, height: int = 4000) -> tuple[int, int, list[bytes]]:
    shot = tmp / f"{page.stem}.png"
    proc = subprocess.run(
        [
            CHROMIUM or "chromium",
            *QUIET,
            f"--user-data-dir={tmp / 'profile-s'}",
            f"--window-size=1400,{height}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists(), proc.stderr.decode(errors="replace")[-2000:]
    return png_pixels(shot.read_bytes())


def colour_counts(channels: int, rows: list[bytes], colours: dict[str, str]) -> dict[str, int]:
    wanted = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)): name for name, c in colours.items()}
    counts = dict.fromkeys(colours, 0)
    for row in rows:
        for x in range(0, len(row), channels):
            name = wanted.get(tuple(row[x : x + 3]))
            if name is not None:
                counts[name] += 1
    return counts


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash .ci/setup installs it)")
def test_curves_timelines_and_scaling_render_in_chromium(hermetic_env: Path, tmp_path: Path) -> None:
    with Ledger(hermetic_env, clock=lambda: L.T0) as led:
        train = L.training_sweep(led, iterations=300)
        scaling = L.scaling_sweep(led)
        day2 = L.training_sweep(
            led,
            "day2",
            repeats=2,
            iterations=300,
            t0=L.T0 + 2 * 86_400,
            seed=5,
            weak=None,
            telemetry=False,
        )
        now = L.T0 + 30 * 86_400
        pages = {
            "train": build_report(led, [train.sweep_id], now=now),
            "scaling": build_report(led, [scaling.sweep_id], now=now),
            "compare": build_report(led, [train.sweep_id, day2.sweep_id], now=now),
        }
    files = {}
    for name, rep in pages.items():
        files[name] = tmp_path / f"{name}.html"
        files[name].write_text(render(rep, "html"))
    expected = {"train": 6 + 3 + 9, "scaling": 4 + 2, "compare": 6 + 3 + 9}
    for name, page in files.items():
        found = measure(page, tmp_path)
        assert found["errors"] == [], (name, found["errors"])
        assert found["scroll"] <= found["width"], f"{name}: the page scrolls sideways"
        assert len(found["svgs"]) == expected[name], name
        for svg in found["svgs"]:
            where = f"{name}: {svg['label']}"
            assert 300 <= svg["width"] <= 600 and 80 <= svg["height"] <= 700, where
            assert svg["left"] >= 0 and svg["right"] <= found["width"], where
            assert svg["marks"] >= 1, where  # drew something
            assert svg["outside"] == [], f"{where}: text outside its chart: {svg['outside']}"
    # painted: each type's colour in the curves and bars, and every phase's shade in the timelines
    _width, channels, rows = screenshot(files["train"], tmp_path, height=6000)
    shades = {colour: name for name, colour in reversed(PHASE_FILL.items())}  # SSH wait = teardown
    counts = colour_counts(
        channels,
        rows,
        {
            **{f"type{i}": c for i, c in enumerate(_PALETTE[:3])},
            **{f"phase {n}": c for c, n in shades.items()},
        },
    )
    assert all(n > 300 for n in counts.values()), counts
