"""The HTML report opened in real headless Chromium: its charts render as coloured bars."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from lambdabench.report import _PALETTE, build_report, render
from lambdabench.run.plan import SweepRequest
from tests.sweep.conftest import SimEnv
from tests.sweep.test_sweep import Work

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode a non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
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
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
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
def test_html_report_charts_render_in_chromium(simenv: SimEnv, tmp_path: Path) -> None:
    lab = simenv.lab()
    result = lab.sweep(SweepRequest("a10,h100", "gpu-probe", {}), phase=Work(), install_signal_handlers=False)
    page = tmp_path / "report.html"
    page.write_text(render(build_report(lab.ledger, [result.sweep_id]), "html"))
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and text.count("<svg") >= 2
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=900,1600",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120,
    )
    assert shot.exists(), proc.stderr.decode(errors="replace")[-2000:]
    width, channels, rows = png_pixels(shot.read_bytes())
    bar_colours = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in _PALETTE}
    counts = 0
    for row in rows:
        for x in range(0, len(row), channels):
            if tuple(row[x:x + 3]) in bar_colours:
                counts += 1
    # several bars of at least a few hundred pixels each were painted
    assert counts > 2000, f"only {counts} bar-coloured pixels: the charts did not render"
    lab.close()
