"""A run's report: ``_logs/history.json`` rendered as one self-contained ``report.html``.

Hadoop keeps a job's history under ``_logs/history`` and shows it in the JobHistory server;
Spark has its UI; dask writes a ``performance_report``. The engine writes the history of every
run beside its output (``engine.history`` collects it) and this module renders it: one HTML
file that opens offline -- the charting library (plotly.js, from the ``plotly`` package, never a
CDN) and the data are inlined, so the page makes no network request.

The page shows the job (id, command line, inputs, the options that matter, the result), the
wall time per phase, a timeline of every task attempt per worker slot (coloured by phase,
failed and killed attempts marked, workers lost between tasks crossed; hovering shows the task,
its split or partition, records, bytes, spills, peak memory and seconds), the skew of the reduce
partitions (bytes and records each, the largest named with its share), the slowest tasks
against the median, runs and bytes spilled per task against the budget's share of a worker, the
peak resident memory of each task's process, and the counters of every step.
``python -m engine report DIR [DIR2]`` re-renders it, and puts two runs side by side.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
import os
import statistics
import tempfile
from typing import Any, Dict, List, Optional, Sequence

from engine.progress import format_bytes

#: ``history.json``'s ``format``: a reader refuses another.
HISTORY_FORMAT = "mr-engine history 1"
#: Where a run's history and report go inside its output directory (hidden from later jobs:
#: inputs named ``_*`` are skipped, as Hadoop skips them).
LOGS_DIR = "_logs"


@functools.lru_cache(maxsize=1)
def plotly_js_bytes() -> bytes:
    """plotly.js as the ``plotly`` package ships it: read as bytes, once per process (importing
    plotly would cost ~0.5 s, decoding its 4.8 MB ~30 ms: the page is assembled as bytes)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the run report needs the plotly package (pip install plotly)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "package_data", "plotly.min.js")
    with open(path, "rb") as f:
        return f.read()


def plotly_js() -> str:
    """plotly.js as text."""
    return plotly_js_bytes().decode("utf-8")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def skew(history: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Per shuffle step: its partitions' bytes and records, the largest and its share of the bytes."""
    out = []
    by_step: Dict[int, List[Dict[str, Any]]] = {}
    for p in history.get("partitions", []):
        by_step.setdefault(p["step"], []).append(p)
    for step, parts in sorted(by_step.items()):
        total = sum(p["bytes"] for p in parts) or 1
        largest = max(parts, key=lambda p: p["bytes"])
        out.append(
            {
                "step": step,
                "partitions": parts,
                "largest": largest["partition"],
                "share": largest["bytes"] / total,
            }
        )
    return out


def slowest(history: Dict[str, Any], n: int = 5) -> List[Dict[str, Any]]:
    """The *n* slowest successful attempts, each with the median of its phase."""
    ok = [a for a in history.get("attempts", []) if a["state"] == "succeeded"]
    medians = {}
    for phase in {a["phase"] for a in ok}:
        medians[phase] = statistics.median(a["end"] - a["start"] for a in ok if a["phase"] == phase)
    ranked = sorted(ok, key=lambda a: a["end"] - a["start"], reverse=True)[:n]
    return [dict(a, seconds=a["end"] - a["start"], median=medians[a["phase"]]) for a in ranked]


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #f3f3f3; text-align: left; } .ok { color: #1a7f37; } .failed { color: #c62828; }
code { background: #f6f6f6; padding: 0 3px; } .chart { width: 100%; min-height: 320px; }
"""

# The page's own script: it reads the history from the JSON block and draws with plotly.
_SCRIPT = r"""
(function () {
  const h = JSON.parse(document.getElementById('history').textContent);
  const palette = ['#4c78a8', '#f58518', '#54a24b', '#b279a2', '#72b7b2', '#eeca3b', '#9d755d'];
  const phases = [...new Set(h.attempts.map(a => a.phase))];
  const traces = [];
  for (const [i, phase] of phases.entries()) {
    for (const state of ['succeeded', 'failed', 'killed']) {
      const rows = h.attempts.filter(a => a.phase === phase && a.state === state);
      if (!rows.length) continue;
      traces.push({
        type: 'bar', orientation: 'h', name: state === 'succeeded' ? phase : phase + ' (' + state + ')',
        y: rows.map(a => 'slot ' + a.worker), base: rows.map(a => a.start),
        x: rows.map(a => Math.max(a.end - a.start, 0.001)),
        marker: {color: state === 'succeeded' ? palette[i % palette.length] : '#c62828',
                 pattern: {shape: state === 'killed' ? 'x' : (state === 'failed' ? '/' : '')},
                 line: {color: '#333', width: 0.5}},
        text: rows.map(a => a.task), textposition: 'none',
        hovertext: rows.map(a => [a.task + ' attempt ' + a.attempt + ' (' + a.state + ')',
          (a.split || ('partition ' + a.partition)), a.records_in + ' records in, ' + a.records_out + ' out',
          a.bytes_out + ' bytes out, ' + a.spills + ' spills (' + (a.spilled_bytes || 0) + ' bytes)',
          a.peak_rss ? 'peak memory ' + (a.peak_rss / 1048576).toFixed(1) + ' MiB' : '',
          (a.end - a.start).toFixed(3) + ' s',
          a.error || ''].join('<br>')),
        hoverinfo: 'text', customdata: rows.map(a => a.task),
      });
    }
  }
  const lost = h.workers_lost || [];
  if (lost.length) {
    traces.push({type: 'scatter', mode: 'markers', name: 'worker lost',
      x: lost.map(w => w.at), y: lost.map(w => 'slot ' + w.worker),
      marker: {symbol: 'x-thin', size: 16, color: '#000', line: {width: 3, color: '#000'}},
      hovertext: lost.map(w => 'worker ' + w.pid + ' ' + w.how + ' ' + w.when), hoverinfo: 'text'});
  }
  const cfg = {displaylogo: false, responsive: true};
  const slots = new Set(h.attempts.map(a => a.worker)).size;
  Plotly.newPlot('timeline', traces, {barmode: 'overlay', title: 'Task attempts per worker slot',
    xaxis: {title: 'seconds since the job started'}, yaxis: {autorange: 'reversed', type: 'category'},
    height: 220 + 60 * slots, bargap: 0.25}, cfg);
  const skewTraces = [];
  for (const s of h.skew) {
    skewTraces.push({type: 'bar', name: 'step ' + (s.step + 1) + ' bytes', offsetgroup: 2 * s.step,
      x: s.partitions.map(p => 'step ' + (s.step + 1) + ' p' + p.partition),
      y: s.partitions.map(p => p.bytes)});
    skewTraces.push({type: 'bar', name: 'step ' + (s.step + 1) + ' records', yaxis: 'y2',
      offsetgroup: 2 * s.step + 1,
      x: s.partitions.map(p => 'step ' + (s.step + 1) + ' p' + p.partition),
      y: s.partitions.map(p => p.records)});
  }
  if (skewTraces.length) {
    Plotly.newPlot('skew', skewTraces, {title: 'Reduce input per partition', barmode: 'group',
      yaxis: {title: 'bytes'}, yaxis2: {title: 'records', overlaying: 'y', side: 'right'}}, cfg);
  }
  const share = h.job.options.memory_budget / Math.max(1, h.job.options.workers);
  const withSpills = h.attempts.filter(a => a.state === 'succeeded' && a.spills > 0);
  if (withSpills.length) {
    Plotly.newPlot('spills', [
      {type: 'bar', name: 'runs written', offsetgroup: 0, x: withSpills.map(a => a.task),
       y: withSpills.map(a => a.spills)},
      {type: 'bar', name: 'bytes spilled', yaxis: 'y2', offsetgroup: 1, x: withSpills.map(a => a.task),
       y: withSpills.map(a => a.spilled_bytes || 0)}],
      {title: 'Spills per task (memory budget ' + h.job.options.memory_budget + ' bytes, shared by ' +
       h.job.options.workers + ' workers)', barmode: 'group', yaxis: {title: 'runs'},
       yaxis2: {title: 'bytes', overlaying: 'y', side: 'right'},
       shapes: [share > 0 ? {type: 'line', xref: 'paper', x0: 0, x1: 1, yref: 'y2', y0: share, y1: share,
                             line: {dash: 'dot', color: '#c62828'}} : null].filter(Boolean)}, cfg);
  }
  const measured = h.attempts.filter(a => a.state === 'succeeded' && a.peak_rss);
  if (measured.length) {
    Plotly.newPlot('memory', [{type: 'bar', name: 'peak resident memory (MiB)',
      x: measured.map(a => a.task), y: measured.map(a => a.peak_rss / 1048576),
      marker: {color: measured.map(a => palette[phases.indexOf(a.phase) % palette.length])}}],
      {title: 'Peak memory of the process that ran each task (MiB)', yaxis: {title: 'MiB'}}, cfg);
  }
})();
"""


def render(history: Dict[str, Any], other: Optional[Dict[str, Any]] = None) -> str:
    """The report page of one run (or, with *other*, two runs side by side)."""
    return render_bytes(history, other).decode("utf-8")


def render_bytes(history: Dict[str, Any], other: Optional[Dict[str, Any]] = None) -> bytes:
    """``render``'s page as UTF-8 bytes (what is written: plotly.js is never decoded)."""
    if history.get("format") != HISTORY_FORMAT:
        raise ValueError(
            f"not a history of this engine (format {history.get('format')!r}, want {HISTORY_FORMAT!r})"
        )
    job = history["job"]
    data = dict(history, skew=skew(history))
    parts = [
        f"<h1>Job {html.escape(job['id'])}: "
        f'<span class="{"ok" if job["result"] == "succeeded" else "failed"}">{html.escape(job["result"])}'
        f"</span> in {job['seconds']:.2f} s</h1>"
    ]
    if job.get("error"):
        parts.append(f'<p class="failed">{html.escape(job["error"])}</p>')
    opts = job.get("options", {})
    parts.append(
        _table(
            ["", ""],
            [
                ["command", " ".join(job.get("command", []))],
                ["inputs", ", ".join(job.get("inputs", []))],
                ["output", job.get("output_dir") or "(printed)"],
                *([k, v] for k, v in sorted(opts.items())),
            ],
            "job",
        )
    )
    parts.append("<h2>Phases</h2>")
    parts.append(
        _table(
            [
                "phase",
                "tasks",
                "records in",
                "records out",
                "bytes out",
                "spills",
                "spilled",
                "shuffled",
                "seconds",
            ],
            [
                [
                    p["name"],
                    p["tasks"],
                    p["records_in"],
                    p["records_out"],
                    format_bytes(p["bytes_out"]),
                    p["spills"],
                    format_bytes(p.get("spilled_bytes", 0)),
                    format_bytes(p["shuffled_bytes"]),
                    f"{p['seconds']:.2f}",
                ]
                for p in history["phases"]
            ],
            "phases",
        )
    )
    for section in history.get("sections", ()):
        parts.append(f"<h2>{html.escape(section['title'])}</h2><pre>{html.escape(section['text'])}</pre>")
    if other is not None:
        parts.append(_comparison(history, other))
    parts.append('<h2>Timeline</h2><div id="timeline" class="chart"></div>')
    parts.append("<h2>Skew</h2>")
    for s in data["skew"]:
        parts.append(
            f"<p>step {s['step'] + 1}: the largest partition is {s['largest']}, "
            f"with {s['share']:.0%} of the bytes.</p>"
        )
    parts.append('<div id="skew" class="chart"></div>')
    parts.append("<h2>Slowest tasks</h2>")
    parts.append(
        _table(
            ["task", "phase", "seconds", "median of its phase", "worker"],
            [
                [a["task"], a["phase"], f"{a['seconds']:.3f}", f"{a['median']:.3f}", a["worker"]]
                for a in slowest(history)
            ],
            "slowest",
        )
    )
    parts.append('<h2>Spills</h2><div id="spills" class="chart"></div>')
    parts.append("<h2>Memory</h2>")
    parts.append(_memory_line(history))
    parts.append('<div id="memory" class="chart"></div>')
    failed = [a for a in history["attempts"] if a["state"] != "succeeded"]
    if failed:
        parts.append("<h2>Failed and killed attempts</h2>")
        parts.append(
            _table(
                ["task", "attempt", "state", "worker", "error"],
                [[a["task"], a["attempt"], a["state"], a["worker"], a.get("error") or ""] for a in failed],
                "failed",
            )
        )
    parts.append("<h2>Counters</h2>")
    if not any(groups for groups in history.get("counters", [])):
        parts.append("<p>(the job counted nothing)</p>")
    for step, groups in enumerate(history.get("counters", [])):
        rows = [[g, n, v] for g, names in sorted(groups.items()) for n, v in sorted(names.items())]
        if rows:
            parts.append(f"<h3>step {step + 1}</h3>" + _table(["group", "name", "value"], rows, "counters"))
    payload = json.dumps(data).replace("</", "<\\/")
    head = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(job['id'])} — mr-engine report</title><style>{_STYLE}</style><script>"
    )
    tail = (
        f"</script></head><body>{''.join(parts)}"
        f'<script type="application/json" id="history">{payload}</script>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
    return b"".join((head.encode("utf-8"), plotly_js_bytes(), tail.encode("utf-8")))


def _memory_line(history: Dict[str, Any]) -> str:
    """The largest peak resident memory of a task's process, against the memory budget."""
    opts = history["job"].get("options", {})
    peaks = [a for a in history["attempts"] if a.get("peak_rss")]
    budget = opts.get("memory_budget")
    of_budget = (
        f" (--memory-budget {format_bytes(budget)}, shared by {opts.get('workers')} workers)"
        if budget
        else ""
    )
    if not peaks:
        return f"<p>No task's memory was measured{of_budget}.</p>"
    top = max(peaks, key=lambda a: a["peak_rss"])
    return (
        f"<p>The largest peak resident memory of a process that ran a task: {format_bytes(top['peak_rss'])}, "
        f"after {html.escape(top['task'])} on slot {top['worker']}{of_budget}. It counts the interpreter "
        "and the job's modules too, and a worker's peak covers the tasks it ran before.</p>"
    )


def _comparison(a: Dict[str, Any], b: Dict[str, Any]) -> str:
    rows = []
    names = [p["name"] for p in a["phases"]]
    bp = {p["name"]: p for p in b["phases"]}
    for p in a["phases"]:
        q = bp.get(p["name"])
        rows.append(
            [
                p["name"],
                f"{p['seconds']:.2f}",
                f"{q['seconds']:.2f}" if q else "-",
                f"{q['seconds'] - p['seconds']:+.2f}" if q else "-",
            ]
        )
    for name, q in bp.items():
        if name not in names:
            rows.append([name, "-", f"{q['seconds']:.2f}", "-"])
    return f"<h2>Beside {html.escape(b['job']['id'])}</h2>" + _table(
        ["phase", a["job"]["id"], b["job"]["id"], "change (s)"], rows, "compare"
    )


def write_report(history: Dict[str, Any], path: str, other: Optional[Dict[str, Any]] = None) -> str:
    """Writes the page to *path* (temp file, then rename: never half-written); returns *path*."""
    publish_bytes(render_bytes(history, other), path)
    return path


def publish_bytes(data: bytes, path: str) -> None:
    """*data* into *path* through a temp file and a rename (readable as the output's parts are)."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def history_path(directory: str) -> str:
    """Where a run's history is: ``DIR/_logs/history.json`` (or DIR itself if it is the file)."""
    return directory if directory.endswith(".json") else os.path.join(directory, LOGS_DIR, "history.json")


def load_history(directory: str) -> Dict[str, Any]:
    """The history at ``history_path(directory)``, checked to be this engine's."""
    path = history_path(directory)
    with open(path, encoding="utf-8") as f:
        history = json.load(f)
    if history.get("format") != HISTORY_FORMAT:
        raise ValueError(f"{path} is not a history of this engine (format {history.get('format')!r})")
    return history
