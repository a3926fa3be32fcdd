"""The run report opened in a real headless browser: Debian's chromium (``make setup`` installs it;
without it this test fails, it does not skip).

Chromium loads ``_logs/report.html`` from disk with every host name unresolvable and a network log
(``--log-net-log``): the page must draw one timeline bar per task attempt, print nothing on the
console (no errors, no warnings) and request nothing over the network -- a request made by the page
is one whose traffic annotation is Blink's resource loader (``101845102``); the browser's own update
and account pings carry others and are not the page's. A screenshot is kept beside the report.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from engine.report import load_history
from jobs.wordcount import MRWordCount
from tests.conftest import make_text

#: Chromium's network traffic annotation of the requests a page makes (Blink's resource loader).
PAGE_REQUEST_ANNOTATION = 101845102


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(
        "no chromium on PATH: run `make setup` (it installs Debian's chromium) or `apt-get install chromium`"
    )


def browse(page: Path, work: Path, *extra: str) -> tuple[str, list[str], list[str]]:
    """(the rendered DOM, the URLs the page requested, the console lines) of *page*."""
    net = work / "net.json"
    args = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
        "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000",
        f"--user-data-dir={work / 'profile'}", f"--log-net-log={net}", "--enable-logging=stderr", "--v=0",
        *extra, page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=work)
    assert done.returncode == 0, done.stderr[-2000:]
    log = net.read_text() if net.exists() else ""
    requests = re.findall(r'"traffic_annotation":(\d+),"url":"([^"]+)"', log)
    urls = sorted({url for annotation, url in requests if int(annotation) == PAGE_REQUEST_ANNOTATION})
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, urls, console


def test_the_report_renders_offline_one_bar_per_attempt_without_console_messages(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text(make_text(3000, seed=6))
    out = tmp_path / "out"
    job = MRWordCount(["-r", "engine", "--num-cores", "2", "--split-size", "16K", "--jobconf",
                       "mapreduce.job.reduces=3", "--output-dir", str(out), str(data)])  # fmt: skip
    with job.make_runner() as runner:
        runner.run()
    page = out / "_logs" / "report.html"
    history = load_history(str(out))
    work = tmp_path / "browser"
    work.mkdir()
    dom, urls, console = browse(page, work, "--dump-dom")
    assert urls == [], f"the page made network requests: {urls}"
    assert console == [], f"the page wrote to the console: {console}"
    timeline = dom.split('id="timeline"', 1)[1].split("<h2>", 1)[0]
    assert timeline.count('class="point"') == len(history["attempts"]) > 0
    assert dom.count('class="main-svg"') >= 3  # the timeline, skew and spill charts were drawn
    shot = out / "_logs" / "report.png"
    browse(page, work, "--hide-scrollbars", "--window-size=1300,1500", f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000
