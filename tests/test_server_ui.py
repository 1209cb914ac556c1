"""The dashboard at /ui in headless Chromium (Debian's `chromium`; `.ci/run` installs it):
the page loads with jobs from a seeded ledger, the spend chart renders, no console errors,
and a screenshot is written to the test's temp dir."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from server_kit import served
from videogw.ledger import Ledger, SQLiteLedger
from videogw.models import Attempt, AttemptOutcome, CostEstimate, Job, JobStatus, Output, Task
from videogw.server import create_key

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _job(
    n: int, provider: str, model: str, status: JobStatus, cost: str, days_ago: int, key: str
) -> Job:
    started = datetime.now(UTC) - timedelta(days=days_ago, minutes=10 + n)
    ended = started + timedelta(seconds=30 + 7 * n)
    estimate = CostEstimate(
        amount=Decimal(cost), currency="USD", basis="seed", source="seed", usd=Decimal(cost)
    )
    charged = status is JobStatus.succeeded
    attempt = Attempt(
        provider=provider,
        provider_model=f"{provider}/{model}",
        idempotency_key=f"seed-{n}",
        outcome=AttemptOutcome.accepted,
        started_at=started,
        ended_at=ended,
        provider_job_id=f"p-{n}",
        status=status,
        estimate=estimate,
        actual_cost=Decimal(cost) if charged else None,
        charged=charged,
    )
    return Job(
        model=model,
        task=Task.image_to_video,
        status=status,
        provider=provider,
        provider_model=attempt.provider_model,
        provider_job_id=f"p-{n}",
        idempotency_key=f"seed-{n}",
        estimate=estimate,
        actual_cost=attempt.actual_cost,
        cost_currency="USD",
        charged=charged,
        attempts=(attempt,),
        outputs=(Output(url=f"https://cdn.example.com/{n}.mp4"),) if charged else (),
        labels={"client_key": key},
        created_at=started,
        updated_at=ended,
        submitted_at=started,
        finished_at=ended,
    )


def seed(ledger: Ledger, key: str) -> list[Job]:
    rows = [
        ("higgsfield", "dop-lite", JobStatus.succeeded, "0.125", 0),
        ("higgsfield", "dop-lite", JobStatus.succeeded, "0.125", 1),
        ("pixazo", "dop-lite", JobStatus.succeeded, "0.10", 1),
        ("segmind", "dop-turbo", JobStatus.succeeded, "0.30", 2),
        ("pixazo", "dop-lite", JobStatus.failed, "0.10", 0),
        ("segmind", "dop-turbo", JobStatus.content_filtered, "0.30", 3),
    ]
    return [ledger.create(_job(n, p, m, s, c, d, key)) for n, (p, m, s, c, d) in enumerate(rows)]


def rows(html: str) -> int:
    return len(re.findall(r"<tr class=.job.>", html))


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={cwd / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_dashboard_in_headless_chromium(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    key, _ = create_key(ledger, "dash")
    jobs = seed(ledger, key.id)
    with served(ledger=ledger) as s:
        url = f"{s.base_url}/ui"
        page = httpx.get(url)
        assert page.status_code == 200
        for job in jobs:
            assert job.id[:12] in page.text

        dom = chromium("--dump-dom", url, cwd=tmp_path)
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        assert rows(html) == len(jobs)
        assert 'id="spend-chart" data-rendered="true"' in html
        bars = re.findall(r"<rect class=\"bar\"", html)
        assert len(bars) == 4  # (day, provider) pairs with charged spend in the last 14 days
        assert "higgsfield" in html
        assert "pixazo" in html
        console = [
            line
            for line in dom.stderr.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "SyntaxError" in line
        ]
        assert console == [], console

        shot = tmp_path / "dashboard.png"
        taken = chromium(f"--screenshot={shot}", "--window-size=1280,1400", url, cwd=tmp_path)
        assert taken.returncode == 0, taken.stderr[-2000:]
        assert shot.stat().st_size > 10_000
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # filters: by status, provider and key
        failed = httpx.get(url, params={"status": "failed"}).text
        assert rows(failed) == 1
        assert rows(httpx.get(url, params={"provider": "segmind"}).text) == 2
        assert rows(httpx.get(url, params={"key": key.id}).text) == 6
        assert rows(httpx.get(url, params={"key": "key_other"}).text) == 0
        assert "p50" in page.text
        assert "Provider health" in page.text


def test_the_dashboard_asks_for_a_key_when_keys_are_required(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    key, secret = create_key(ledger, "dash")
    first_job = seed(ledger, key.id)[0]
    with served(ledger=ledger, require_keys=True) as s, httpx.Client(base_url=s.base_url) as c:
        first = c.get("/ui")
        assert first.status_code == 401
        assert "Sign in" in first.text
        assert c.post("/ui/login", data={"key": "vgw_sk_nope"}).status_code == 401
        signed = c.post("/ui/login", data={"key": secret}, follow_redirects=False)
        assert signed.status_code == 303
        assert "httponly" in signed.headers["set-cookie"].lower()
        page = c.get("/ui")
        assert page.status_code == 200
        assert rows(page.text) == 6
        job = c.get(f"/ui/jobs/{first_job.id}")
        assert job.json()["id"] == first_job.id
        assert "provider_data" not in job.json()
