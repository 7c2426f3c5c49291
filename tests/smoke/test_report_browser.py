"""The HTML report in a real headless Chromium: it loads offline without console errors,
every image decodes, and the tables hold numbers.

Chromium is Debian's ``chromium`` package, which ``.ci/run`` installs. Where it is missing the
browser tests fail and say how to install it: a skipped browser test would hide a broken page.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest
from clitools import assert_one_line_error, cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Injected first in <head>: records errors (script errors, resources that fail, console
# errors) and, once the page has loaded, what every image and video decoded to and the text
# of every table cell, into a <pre> that --dump-dom prints.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(e.message || ('failed to load ' + (t && (t.src || t.href))));
}, true);
var __err = console.error;
console.error = function () {
  window.__errors.push([].join.call(arguments, ' '));
  __err.apply(console, arguments);
};
window.addEventListener('load', function () {
  var r = {
    errors: window.__errors,
    images: [].map.call(document.images, function (i) {
      return {alt: i.alt, ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth};
    }),
    videos: [].map.call(document.querySelectorAll('video'), function (v) {
      return {ok: v.readyState >= 2 && v.videoWidth > 0};
    }),
    cells: [].map.call(document.querySelectorAll('td'), function (td) {
      return td.textContent.trim();
    }),
    tables: document.querySelectorAll('table').length
  };
  var pre = document.createElement('pre'); pre.id = '__probe'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


def _chromium_dom(page, profile) -> str:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: apt-get install chromium (.ci/run installs it)")
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-dev-shm-usage",
        "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
        "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _probe(page, profile) -> dict:
    """What the PROBE recorded when Chromium loaded ``page``."""
    found = re.search(r'<pre id="__probe">(.*?)</pre>', _chromium_dom(page, profile), re.S)
    assert found, "the page never finished loading"
    return json.loads(html.unescape(found.group(1)))


def test_report_in_a_real_browser(tmp_path, copy_run, ball_file):
    run = copy_run()
    assert cli("eval", run, cwd=tmp_path).returncode == 0
    proc = cli("monitor", run, "--source", ball_file, "--far", "0.05", "--save", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = cli("report", run, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (run / "report.html").read_text()
    # offline: nothing is fetched from anywhere (no CDN, no remote font or script)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "remote resource"
    page = tmp_path / "probe.html"
    page.write_text(text.replace("<head>", "<head>" + PROBE, 1))
    r = _probe(page, tmp_path / "profile")
    assert r["errors"] == []
    assert len(r["images"]) >= 2 and all(i["ok"] for i in r["images"]), r["images"]
    assert "score over the stream, alerts marked" in [i["alt"] for i in r["images"]]
    assert all(v["ok"] for v in r["videos"])
    assert r["tables"] >= 1
    numbers = [c for c in r["cells"] if re.fullmatch(r"[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?%?", c)]
    assert len(numbers) >= 5, r["cells"]
    # and a broken image is caught: the probe is not blind
    broken = tmp_path / "broken.html"
    broken.write_text(
        page.read_text().replace(
            'src="data:image/png;base64,', 'src="data:image/png;base64,AAAA', 1
        )
    )
    r2 = _probe(broken, tmp_path / "p2")
    assert not all(i["ok"] for i in r2["images"])


@pytest.fixture
def compared(tmp_path, copy_run):
    """Two copies of the debug run, ``a`` evaluated and ``b`` not; returns (a, b)."""
    a, b = copy_run("a"), copy_run("b")
    assert cli("eval", a, "--no-viewer", cwd=tmp_path).returncode == 0
    return a, b


def test_compare_page(tmp_path, compared):
    a, b = compared
    proc = cli("compare", a, b, "--out", "cmp.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "cmp.html").read_text()
    assert "<th>a</th><th>b</th>" in text and "eval/probe_r2_ball_pos" in text
    assert text.count("<img") == 1 and "n/a" in text  # b has no eval.json
    assert_one_line_error(cli("compare", a, cwd=tmp_path), "compare", "at least two")
    (b / "eval.json").write_text('{"metrics": [1]}')  # hand-edited: the page still renders
    (b / "plan.json").write_text('{"results": [2]}')
    assert cli("compare", a, b, "--out", "cmp2.html", cwd=tmp_path).returncode == 0
    assert_one_line_error(cli("compare", a, b, "--out", a, cwd=tmp_path), "compare", "directory")
    assert_one_line_error(
        cli("compare", a, tmp_path / "nope", cwd=tmp_path), "compare", "not a run directory"
    )


def test_compare_page_in_a_real_browser(tmp_path, compared):
    a, b = compared
    assert cli("compare", a, b, "--out", "cmp.html", cwd=tmp_path).returncode == 0
    page = tmp_path / "cmp_probe.html"
    page.write_text((tmp_path / "cmp.html").read_text().replace("<head>", "<head>" + PROBE, 1))
    r = _probe(page, tmp_path / "profile")
    assert r["errors"] == []
    assert len(r["images"]) == 1 and r["images"][0]["ok"], r["images"]
    assert r["tables"] >= 1 and "n/a" in r["cells"], r["cells"]
