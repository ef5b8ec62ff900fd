"""Open the report in headless Chromium: every <img> loads, no console errors; saves a screenshot."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bbgen.datasets import synthetic
from bbgen.report import build_report, data_sections

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

# Injected at the top of <head> of a copy of index.html (same folder, so relative image paths resolve):
# records console errors, script errors and resource load failures, then reports the images on load.
PROBE = """<script>
window.__errors = [];
const _err = console.error;
console.error = function (...a) { window.__errors.push(a.map(String).join(' ')); _err.apply(console, a); };
window.addEventListener('error', e => {
  window.__errors.push(e.message || ('failed to load ' + (e.target && (e.target.src || e.target.href))));
}, true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images).map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                                                      w: i.naturalWidth}));
  document.documentElement.setAttribute('data-check', JSON.stringify({imgs, errors: window.__errors}));
});
</script>"""


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "report"
    return build_report(synthetic(300, generator=0), out, sections=data_sections(num_batches=100))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; `make test` does it)")
def test_report_renders_in_chromium(report, tmp_path):
    page = report / "_probe.html"
    page.write_text((report / "index.html").read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1),
                    encoding="utf-8")
    run = _chromium(["--virtual-time-budget=10000", "--dump-dom", page.as_uri()], tmp_path / "profile1")
    page.unlink()
    m = re.search(r'data-check="([^"]*)"', run.stdout)
    assert m, f"probe did not run; chromium stderr tail: {run.stderr[-2000:]}"
    check = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(check["imgs"]) == 10
    assert all(i["ok"] for i in check["imgs"]), check["imgs"]
    assert check["errors"] == []

    shot = tmp_path / "report.png"
    run = _chromium(["--window-size=1280,2400", "--hide-scrollbars", f"--screenshot={shot}",
                     (report / "index.html").as_uri()], tmp_path / "profile2")
    console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln]
    assert console == [], console
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        colours = im.convert("L").getextrema()
    assert colours[0] < colours[1]  # not a blank page
