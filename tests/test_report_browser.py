"""The HTML report in a real headless browser: it loads offline, logs no error, and every chart draws.

Needs Chromium (Debian's `chromium`; `.ci/run` installs it). A probe script is injected into a copy
of the report: it records errors and console.error calls, then, once the page has loaded, measures
every `<svg data-chart>` and writes the results into the DOM, which Chromium dumps to stdout.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from etfflow.report.build import report_from_store
from etfflow.report.html import render_html
from etfflow.store import Store
from report_support import GOLDEN_AS_OF, demo_warehouse

CHARTS = {
    "broad-market-groups",
    "sector-flows",
    "sector-cumulative",
    "sector-heatmap",
    "breadth-history",
    "cd-history",
    "style-factors",
    "fixed-income-legs",
    "thematic-heatmap",
    "top-flows",
}

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push("error: " + e.message); });
window.addEventListener("unhandledrejection", function (e) {
  window.__errors.push("rejection: " + e.reason);
});
(function () {
  var orig = console.error;
  console.error = function () {
    window.__errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return orig.apply(console, arguments);
  };
})();
window.addEventListener("load", function () {
  var charts = Array.prototype.map.call(document.querySelectorAll("svg[data-chart]"), function (s) {
    var r = s.getBoundingClientRect();
    var box = s.getBBox();
    var rects = Array.prototype.filter.call(s.querySelectorAll("rect"), function (m) {
      var b = m.getBBox();
      return b.width > 0 && b.height > 0;
    }).length;
    var paths = Array.prototype.filter.call(s.querySelectorAll("path"), function (m) {
      return m.getTotalLength() > 0;
    }).length;
    var marks = rects + paths;
    return {chart: s.getAttribute("data-chart"), width: r.width, height: r.height,
            bbox: [box.width, box.height], marks: marks};
  });
  var res = performance.getEntriesByType("resource").map(function (e) { return e.name; });
  var out = document.createElement("pre");
  out.id = "__probe";
  out.textContent = JSON.stringify({errors: window.__errors, charts: charts, resources: res});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def html(request: pytest.FixtureRequest) -> str:
    db = demo_warehouse(request.config)
    with Store(db, read_only=True) as store:
        rep = report_from_store(store, as_of=dt.date.fromisoformat(GOLDEN_AS_OF), window=5)
    return render_html(rep)


def test_html_is_self_contained(html: str) -> None:
    assert "<script" not in html.lower()  # no JavaScript at all
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html) + re.findall(r"url\(([^)]+)\)", html)
    assert refs == []  # nothing is fetched: works offline
    assert set(re.findall(r'data-chart="([^"]+)"', html)) == CHARTS
    assert "SYNTHETIC" in html.split("<h2>", maxsplit=1)[0] and "not investment advice" in html


def test_html_renders_in_headless_chromium(html: str, tmp_path: Path) -> None:
    exe = chromium()
    if exe is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium; CI installs it)")
    page = tmp_path / "report.html"
    page.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,3000",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<pre id="__probe">(.*?)</pre>', res.stdout, flags=re.S)
    assert m, f"the probe did not run; stderr: {res.stderr[-2000:]}"
    probe = json.loads(html_lib.unescape(m.group(1)))
    assert probe["errors"] == []
    console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    assert probe["resources"] == []  # the page asked for nothing over the network
    charts = {c["chart"]: c for c in probe["charts"]}
    assert set(charts) == CHARTS
    for name, c in charts.items():
        assert c["width"] > 100 and c["height"] > 50, name
        assert c["bbox"][0] > 0 and c["bbox"][1] > 0, name
        assert c["marks"] >= 1, name  # drawn data marks: bars, cells or lines of non-zero size
