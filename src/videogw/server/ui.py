"""The dashboard at ``/ui``: one server-rendered HTML page, a little JavaScript for the spend
chart (an SVG drawn from JSON embedded in the page), no build step and no external assets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from html import escape
from typing import Any

from fastapi.responses import HTMLResponse

from ..ledger import ClientKey
from ..models import Job, JobStatus
from .figures import SpendRow

__all__ = ["Dashboard", "login_page", "render"]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px}
header h1{font-size:18px;margin:0}
main{padding:16px 20px;display:grid;gap:16px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#16794c}.bad{color:#b42318}
.st-succeeded{color:#16794c}.st-failed,.st-content_filtered,.st-expired{color:#b42318}
.st-unknown{color:#b54708;font-weight:600}
form.filters{display:flex;gap:8px;margin-bottom:8px}
#spend-chart svg{width:100%;height:220px}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
"""

_SCRIPT = """
(function () {
  var el = document.getElementById('spend-chart');
  var rows = JSON.parse(document.getElementById('spend-data').textContent);
  var days = [], providers = [];
  rows.forEach(function (r) {
    if (days.indexOf(r.day) < 0) days.push(r.day);
    if (providers.indexOf(r.provider) < 0) providers.push(r.provider);
  });
  days.sort();
  if (!rows.length) { el.textContent = 'No spend recorded in the last 14 days.'; return; }
  var colors = ['#3b6fd8', '#e07b39', '#2f9e6e', '#9b59b6', '#c0392b', '#7f8c8d'];
  var totals = {}, max = 0;
  rows.forEach(function (r) {
    var k = r.day + '|' + r.provider;
    totals[k] = (totals[k] || 0) + parseFloat(r.spend_usd);
  });
  days.forEach(function (d) {
    var sum = 0;
    providers.forEach(function (p) { sum += totals[d + '|' + p] || 0; });
    max = Math.max(max, sum);
  });
  var ns = 'http://www.w3.org/2000/svg', W = 800, H = 200, pad = 30;
  var svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + (H + pad));
  svg.setAttribute('role', 'img');
  var bw = (W - pad) / days.length;
  days.forEach(function (d, i) {
    var y = H;
    providers.forEach(function (p, j) {
      var v = totals[d + '|' + p] || 0;
      if (!v) return;
      var h = max ? (v / max) * (H - 10) : 0;
      y -= h;
      var rect = document.createElementNS(ns, 'rect');
      rect.setAttribute('class', 'bar');
      rect.setAttribute('x', pad + i * bw + 4);
      rect.setAttribute('y', y);
      rect.setAttribute('width', Math.max(bw - 8, 2));
      rect.setAttribute('height', h);
      rect.setAttribute('fill', colors[j % colors.length]);
      var title = document.createElementNS(ns, 'title');
      title.textContent = d + ' ' + p + ': $' + v.toFixed(4);
      rect.appendChild(title);
      svg.appendChild(rect);
    });
    var label = document.createElementNS(ns, 'text');
    label.setAttribute('x', pad + i * bw + bw / 2);
    label.setAttribute('y', H + 18);
    label.setAttribute('text-anchor', 'middle');
    label.setAttribute('font-size', '11');
    label.textContent = d.slice(5);
    svg.appendChild(label);
  });
  var top = document.createElementNS(ns, 'text');
  top.setAttribute('x', 0); top.setAttribute('y', 12); top.setAttribute('font-size', '11');
  top.textContent = '$' + max.toFixed(2);
  svg.appendChild(top);
  el.appendChild(svg);
  var legend = document.createElement('div');
  legend.className = 'legend';
  providers.forEach(function (p, j) {
    var s = document.createElement('span');
    var i = document.createElement('i');
    i.style.background = colors[j % colors.length];
    s.appendChild(i);
    s.appendChild(document.createTextNode(p));
    legend.appendChild(s);
  });
  el.appendChild(legend);
  el.setAttribute('data-rendered', 'true');
})();
"""


@dataclass
class Dashboard:
    jobs: list[Job]
    shown: list[Job]
    spend: list[SpendRow]
    latency: list[dict[str, Any]]
    health: list[dict[str, Any]]
    keys: list[ClientKey]
    filters: dict[str, str]


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _s(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f} s"


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.0%}"


def _select(name: str, options: list[str], chosen: str) -> str:
    items = [f'<option value="">any {name}</option>']
    for option in options:
        selected = " selected" if option == chosen else ""
        items.append(f'<option value="{_e(option)}"{selected}>{_e(option)}</option>')
    return f'<select name="{name}" id="filter-{name}">{"".join(items)}</select>'


def _jobs_table(page: Dashboard) -> str:
    rows = []
    for job in page.shown:
        cost = "" if job.actual_cost is None else f"{job.actual_cost} {job.cost_currency or ''}"
        rows.append(
            "<tr class='job'>"
            f"<td><a href='/ui/jobs/{_e(job.id)}'>{_e(job.id[:12])}</a></td>"
            f"<td class='st-{_e(job.status.value)}'>{_e(job.status.value)}</td>"
            f"<td>{_e(job.provider)}</td><td>{_e(job.model)}</td>"
            f"<td>{_e(job.labels.get('client_key', ''))}</td>"
            f"<td class='num'>{_e(cost)}</td><td class='num'>{len(job.attempts)}</td>"
            f"<td>{job.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}</td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan='8'>No jobs match.</td></tr>"
    statuses = [s.value for s in JobStatus]
    providers = sorted({j.provider for j in page.jobs if j.provider})
    keys = sorted(
        {k.id for k in page.keys}
        | {j.labels["client_key"] for j in page.jobs if "client_key" in j.labels}
    )
    f = page.filters
    return (
        "<section id='jobs'><h2>Jobs</h2><form class='filters' method='get' action='/ui'>"
        + _select("status", statuses, f["status"])
        + _select("provider", providers, f["provider"])
        + _select("key", keys, f["key"])
        + "<button type='submit'>Filter</button></form>"
        "<table><thead><tr><th>id</th><th>status</th><th>provider</th><th>model</th>"
        "<th>key</th><th>cost</th><th>attempts</th><th>created (UTC)</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
        f"<p>{len(page.shown)} shown of {len(page.jobs)} recent jobs.</p></section>"
    )


def _latency_table(page: Dashboard) -> str:
    rows = "".join(
        f"<tr><td>{_e(r['provider'])}</td><td>{_e(r['model'])}</td>"
        f"<td class='num'>{_s(r['p50_s'])}</td><td class='num'>{_s(r['p95_s'])}</td>"
        f"<td class='num'>{r['samples']}</td><td class='num'>{_pct(r['success_rate'])}</td>"
        "</tr>"
        for r in page.latency
    )
    return (
        "<section id='latency'><h2>Latency per provider and model</h2><table><thead><tr>"
        "<th>provider</th><th>model</th><th>p50</th><th>p95</th><th>samples</th>"
        f"<th>success</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _health_table(page: Dashboard) -> str:
    rows = []
    for r in page.health:
        breakers = ", ".join(f"{b['model']}: {b['state']}" for b in r["breakers"]) or "closed"
        cooling = f"{r['cooldown_s']} s" if r["cooldown_s"] else ""
        state = "<span class='ok'>ok</span>" if r["ok"] else "<span class='bad'>degraded</span>"
        rows.append(
            f"<tr><td>{_e(r['provider'])}</td><td>{state}</td><td>{_e(breakers)}</td>"
            f"<td>{_e(cooling)}</td><td>{_e(r['disabled'] or '')}</td>"
            f"<td class='num'>{_e(r['remaining_credits'])}</td></tr>"
        )
    return (
        "<section id='health'><h2>Provider health (this server process)</h2><table><thead><tr>"
        "<th>provider</th><th>state</th><th>breakers</th><th>cool-down</th><th>disabled</th>"
        f"<th>credit</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def render(page: Dashboard) -> HTMLResponse:
    data = json.dumps(
        [
            {"day": r.day, "provider": r.provider, "model": r.model, "spend_usd": str(r.spend_usd)}
            for r in page.spend
        ]
    ).replace("</", "<\\/")
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>videogw</title><meta name='viewport' content='width=device-width'>"
        f"<link rel='icon' href='data:,'><style>{_STYLE}</style></head><body>"
        "<header><h1>videogw</h1></header><main>"
        + _jobs_table(page)
        + "<section id='spend'><h2>Spend per provider per day (USD, last 14 days)</h2>"
        "<div id='spend-chart'></div>"
        f"<script type='application/json' id='spend-data'>{data}</script></section>"
        + _latency_table(page)
        + _health_table(page)
        + f"</main><script>{_SCRIPT}</script></body></html>"
    )
    return HTMLResponse(html)


def login_page(message: str, status: int) -> HTMLResponse:
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>videogw</title>"
        f"<link rel='icon' href='data:,'><style>{_STYLE}</style></head><body>"
        "<header><h1>videogw</h1></header><main><section><h2>Sign in</h2>"
        f"<p>{_e(message)}</p><form method='post' action='/ui/login'>"
        "<input type='password' name='key' placeholder='client key' autocomplete='off'>"
        "<button type='submit'>Open the dashboard</button></form></section></main></body></html>"
    )
    return HTMLResponse(html, status_code=status)
