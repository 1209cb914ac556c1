"""`videogw serve` against the real `openai` SDK and plain HTTP, on loopback emulators."""

from __future__ import annotations

import base64
import logging
import uuid
import warnings
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from server_kit import IMAGE, MOTION, served
from videogw.ledger import SQLiteLedger
from videogw.models import JobStatus
from videogw.server import create_key

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # OpenAI retired Sora's API
]


def sdk(base_url: str, key: str = "unused", **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, **kwargs)  # type: ignore[arg-type]


def test_the_openai_sdk_creates_polls_downloads_lists_and_retrieves() -> None:
    with served() as s:
        client = sdk(s.base_url)
        video = client.videos.create_and_poll(
            model="dop-lite", prompt="a red fox", extra_body={"image_url": IMAGE}
        )
        assert video.status == "completed"
        assert video.progress == 100
        extra = video.model_extra or {}
        assert extra["provider"] == "higgsfield"
        assert extra["detailed_status"] == "succeeded"
        assert extra["charged"] is True
        assert extra["attempts"][0]["outcome"] == "accepted"
        assert extra["estimate"]["currency"] == "credits"

        content = client.videos.download_content(video.id, variant="video").content
        emulator = s.emulated.emulators["higgsfield"]
        job = s.gateway.get(video.id)
        served_bytes = httpx.get(job.outputs[0].url).content
        assert content == served_bytes
        assert content  # the emulator's output bytes, through the safe downloader
        assert emulator.jobs

        assert client.videos.retrieve(video.id).status == "completed"
        second = client.videos.create(
            model="dop-lite", prompt="another fox", extra_body={"image_url": IMAGE}
        )
        listed = client.videos.list(limit=1)
        assert [v.id for v in listed.data] == [second.id]  # newest first
        assert listed.has_more
        assert [v.id for v in listed.get_next_page().data] == [video.id]
        oldest_first = client.videos.list(order="asc")
        assert [v.id for v in oldest_first.data] == [video.id, second.id]


def test_the_poll_after_header_follows_the_adaptive_schedule() -> None:
    with served() as s:
        r = httpx.post(
            f"{s.base_url}/v1/videos",
            json={"model": "dop-lite", "prompt": "emulate:queue=30", "image_url": IMAGE},
        )
        assert r.status_code == 200, r.text
        assert 100 <= int(r.headers["openai-poll-after-ms"]) <= 1000  # floor 0.1 s, cap 1 s
        assert r.json()["status"] == "queued"


def test_delete_cancels_where_the_provider_can_and_explains_otherwise() -> None:
    with served() as s:
        client = sdk(s.base_url)
        video = client.videos.create(
            model="higgsfield:dop-lite",
            prompt="emulate:queue=30",
            extra_body={"image_url": IMAGE},
        )
        deleted = client.videos.delete(video.id)
        assert deleted.deleted is True
        assert client.videos.retrieve(video.id).model_extra["detailed_status"] == "cancelled"
        # finished: nothing to cancel; the ledger keeps the record
        with pytest.raises(openai.ConflictError, match="already finished"):
            client.videos.delete(video.id)
        # a provider that cannot cancel
        other = client.videos.create(
            model="pixazo:dop-lite",
            prompt="emulate:queue=30",
            extra_body={"image_url": IMAGE, "motion": MOTION},
        )
        r = httpx.delete(f"{s.base_url}/v1/videos/{other.id}")
        assert r.status_code == 409
        assert "cancel" in r.json()["error"]["message"]
        assert r.headers["x-should-retry"] == "false"


def test_the_same_idempotency_key_twice_creates_one_provider_job() -> None:
    with served() as s:
        client = sdk(s.base_url)
        key = f"k-{uuid.uuid4()}"
        headers = {"Idempotency-Key": key}
        body = {"image_url": IMAGE}
        first = client.videos.create(
            model="dop-lite", prompt="a fox", extra_headers=headers, extra_body=body
        )
        again = client.videos.create(
            model="dop-lite", prompt="a fox", extra_headers=headers, extra_body=body
        )
        assert again.id == first.id
        assert s.provider_jobs() == 1
        # another body with the same key: 409, and the SDK does not retry it
        with pytest.raises(openai.ConflictError, match="Idempotency-Key"):
            client.videos.create(
                model="dop-lite", prompt="a wolf", extra_headers=headers, extra_body=body
            )
        assert s.provider_jobs() == 1


def test_a_submit_with_an_unknown_outcome_is_not_retried_by_the_sdk() -> None:
    with served(faults={"pixazo": "submit:drop_after_accept*1"}) as s:
        client = sdk(s.base_url, max_retries=2)
        with pytest.raises(openai.APIStatusError, match="unknown outcome") as info:
            client.videos.create(
                model="pixazo:dop-lite",
                prompt="a fox",
                extra_body={"image_url": IMAGE, "motion": MOTION},
            )
        assert info.value.status_code == 502
        assert info.value.response.headers["x-should-retry"] == "false"
        assert s.provider_jobs("pixazo") == 1  # the dropped answer's job, and no other
        [job] = s.gateway.store.find()
        assert job.status is JobStatus.unknown
        assert job.provider_job_id is None
        video = client.videos.retrieve(job.id)
        assert video.status == "failed"
        assert video.error is not None
        assert video.error.code == "outcome_unknown"


def test_input_reference_goes_through_an_upload_flow_or_is_refused_clearly() -> None:
    with served() as s:
        client = sdk(s.base_url)
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
        video = client.videos.create(
            model="higgsfield:dop-lite",
            prompt="a fox",
            input_reference=("fox.png", png, "image/png"),
        )
        assert video.model_extra["provider"] == "higgsfield"
        with pytest.raises(openai.BadRequestError) as info:
            client.videos.create(
                model="pixazo:dop-lite",
                prompt="a fox",
                input_reference=("fox.png", png, "image/png"),
                extra_body={"motion": MOTION},
            )
        assert "pixazo" in str(info.value)
        assert s.provider_jobs("pixazo") == 0
        # OpenAI's reference object: an image URL, or a base64 data URL (uploaded)
        by_url = httpx.post(
            f"{s.base_url}/v1/videos",
            json={"model": "dop-lite", "prompt": "a fox", "input_reference": {"image_url": IMAGE}},
        )
        assert by_url.status_code == 200, by_url.text
        assert s.gateway.store.load_request(by_url.json()["id"]).image.url == IMAGE
        data_url = "data:image/png;base64," + base64.b64encode(png).decode()
        inline = httpx.post(
            f"{s.base_url}/v1/videos",
            json={
                "model": "higgsfield:dop-lite",
                "prompt": "a fox",
                "input_reference": {"image_url": data_url},
            },
        )
        assert inline.status_code == 200, inline.text
        assert s.gateway.store.load_request(inline.json()["id"]).image.data == png
        by_id = httpx.post(
            f"{s.base_url}/v1/videos",
            json={"model": "dop-lite", "input_reference": {"file_id": "file-123"}},
        )
        assert by_id.status_code == 400
        assert "file_id" in by_id.json()["error"]["message"]


def test_extra_fields_and_their_limits() -> None:
    with served() as s:
        url = f"{s.base_url}/v1/videos"
        r = httpx.post(url, json={"model": "dop-lite", "image_url": "/etc/passwd"})
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "image_url"
        r = httpx.post(url, json={"model": "dop-lite", "image_url": {"path": "/etc/passwd"}})
        assert r.status_code == 400
        r = httpx.post(url, json={"model": "dop-lite", "colour": "red"})
        assert r.status_code == 400
        assert "colour" in r.json()["error"]["message"]
        r = httpx.post(url, content=b"[1]", headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert s.provider_jobs() == 0
        r = httpx.post(
            url,
            json={
                "model": "dop-lite",
                "image_url": IMAGE,
                "seed": 7,
                "labels": {"team": "ads", "client_key": "forged"},
                "size": "1280x720",
            },
        )
        assert r.status_code == 200, r.text
        job = s.gateway.get(r.json()["id"])
        assert job.labels == {"team": "ads", "size": "1280x720"}
        assert r.json()["size"] == "1280x720"
        body = {"model": "pixazo:dop-lite", "seconds": "5", "image_url": IMAGE, "motion": MOTION}
        refused = httpx.post(url, json=body)  # no prompt: refused before Pixazo sees it
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == "prompt", refused.text
        timed = httpx.post(url, json={**body, "prompt": "a fox"})
        assert timed.status_code == 200, timed.text
        assert timed.json()["seconds"] == "5"


def test_native_endpoints() -> None:
    with served() as s:
        body = {"model": "dop-lite", "prompt": "a fox", "image_url": IMAGE}
        quotes = httpx.post(f"{s.base_url}/v1/videogw/estimate", json=body).json()
        assert {q["provider"] for q in quotes} >= {"higgsfield", "pixazo"}
        explained = httpx.post(f"{s.base_url}/v1/videogw/explain", json=body).json()
        assert explained[0]["provider"] == "higgsfield"
        assert explained[0]["candidate"] is True
        rows = httpx.post(f"{s.base_url}/v1/videogw/compare", json=body).json()
        assert any(r["candidate"] for r in rows)
        client = sdk(s.base_url)
        video = client.videos.create_and_poll(
            model="pixazo:dop-lite", prompt="x", extra_body={"image_url": IMAGE, "motion": MOTION}
        )
        job = httpx.get(f"{s.base_url}/v1/videogw/jobs/{video.id}").json()
        assert job["status"] == "succeeded"
        assert "provider_data" not in job
        spend = httpx.get(f"{s.base_url}/v1/videogw/spend").json()
        assert [(r["provider"], r["model"]) for r in spend] == [("pixazo", "dop-lite")]
        assert Decimal(spend[0]["spend_usd"]) > 0
        metrics = httpx.get(f"{s.base_url}/metrics").text
        assert 'videogw_jobs{provider="pixazo",status="succeeded"} 1.0' in metrics
        assert 'videogw_accepted_total{provider="pixazo"} 1.0' in metrics
        assert "videogw_spend_usd_today" in metrics
        assert httpx.get(f"{s.base_url}/healthz").json() == {"ok": True}
        assert httpx.get(f"{s.base_url}/v1/videogw/jobs/nope").status_code == 404
        # the webhook receiver is mounted in the same app
        r = httpx.post(f"{s.base_url}/webhooks/nobody/{video.id}", content=b"{}")
        assert r.status_code == 404
        forged = httpx.post(f"{s.base_url}/webhooks/pixazo/{video.id}", json={"status": "done"})
        assert forged.status_code == 401  # Pixazo's per-job token is missing
        assert s.app.state.server.receiver.stats.rejected == 2
        assert (
            'videogw_webhook_deliveries_total{result="rejected"} 2.0'
            in httpx.get(f"{s.base_url}/metrics").text
        )


@pytest.fixture
def keyed(tmp_path: Path):  # type: ignore[no-untyped-def]
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    with served(ledger=ledger, require_keys=True) as s:
        yield s


def test_keys_missing_wrong_or_revoked_get_401(keyed, caplog) -> None:  # type: ignore[no-untyped-def]
    s = keyed
    caplog.set_level(logging.DEBUG)
    key, secret = create_key(s.gateway.store, "ci")
    url = f"{s.base_url}/v1/videos"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer vgw_sk_wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    with pytest.raises(openai.AuthenticationError):
        sdk(s.base_url, "not-a-key").videos.list()
    ok = sdk(s.base_url, secret)
    video = ok.videos.create(model="dop-lite", prompt="x", extra_body={"image_url": IMAGE})
    assert s.gateway.get(video.id).labels["client_key"] == key.id  # every job records its key
    assert [v.id for v in ok.videos.list().data] == [video.id]
    # another key sees none of this key's jobs
    _, other = create_key(s.gateway.store, "web")
    with pytest.raises(openai.NotFoundError):
        sdk(s.base_url, other).videos.retrieve(video.id)
    assert sdk(s.base_url, other).videos.list().data == []
    s.gateway.store.revoke_key("ci", key.created_at)
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        ok.videos.retrieve(video.id)
    assert secret not in caplog.text
    stored = s.gateway.store.list_keys()
    assert all(secret not in (k.key_hash, k.id, k.name) for k in stored)


def test_a_key_over_its_daily_budget_gets_402_with_figures_and_nothing_is_sent(keyed) -> None:  # type: ignore[no-untyped-def]
    s = keyed
    key, secret = create_key(s.gateway.store, "tight", Decimal("0.15"))
    client = sdk(s.base_url, secret)
    first = client.videos.create(
        model="higgsfield:dop-lite", prompt="x", extra_body={"image_url": IMAGE}
    )
    assert first.model_extra["provider"] == "higgsfield"  # $0.125 held of $0.15
    sent = s.provider_jobs()
    r = httpx.post(
        f"{s.base_url}/v1/videos",
        json={"model": "higgsfield:dop-lite", "prompt": "y", "image_url": IMAGE},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 402, r.text
    assert r.headers["x-should-retry"] == "false"
    figures = r.json()["budget"]
    assert figures["client_key"] == key.id
    assert Decimal(figures["limit_usd_per_day"]) == Decimal("0.15")
    assert Decimal(figures["spent_or_held_today_usd"]) == Decimal("0.125")
    assert "over daily budget" in r.json()["error"]["message"]
    assert s.provider_jobs() == sent  # nothing was sent
    with pytest.raises(openai.APIStatusError) as info:
        client.videos.create(model="dop-lite", prompt="z", extra_body={"image_url": IMAGE})
    assert info.value.status_code == 402
    assert s.provider_jobs() == sent
    # another key is not held back by this one's budget
    _, roomy = create_key(s.gateway.store, "roomy", Decimal("5"))
    sdk(s.base_url, roomy).videos.create(
        model="higgsfield:dop-lite", prompt="x", extra_body={"image_url": IMAGE}
    )
    assert s.provider_jobs() == sent + 1


def test_the_keys_commands(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from videogw.cli import app

    config = tmp_path / "videogw.toml"
    config.write_text(f'[ledger]\npath = "{tmp_path / "ledger.sqlite3"}"\n')
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["--config", str(config), "keys", "create", "--name", "ci", "--budget-usd-per-day", "2"],
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("vgw_sk_")
    listed = runner.invoke(app, ["--config", str(config), "keys", "list", "--json"])
    assert listed.exit_code == 0
    assert secret not in listed.stdout
    assert '"budget_usd_per_day": "2"' in listed.stdout
    revoked = runner.invoke(app, ["--config", str(config), "keys", "revoke", "ci"])
    assert revoked.exit_code == 0
    assert "revoked key_" in revoked.stdout
    again = runner.invoke(app, ["--config", str(config), "keys", "revoke", "ci"])
    assert again.exit_code == 2
    bad = runner.invoke(
        app,
        ["--config", str(config), "keys", "create", "--name", "x", "--budget-usd-per-day", "-1"],
    )
    assert bad.exit_code == 2


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from videogw.cli import app

    config = tmp_path / "videogw.toml"
    config.write_text(f'[ledger]\npath = "{tmp_path / "ledger.sqlite3"}"\n')
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "without client keys" in result.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from videogw.server.cli import is_loopback
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.1")


def test_background_tracking_finishes_jobs_nobody_polls() -> None:
    import time

    from videogw.server.tracking import BackgroundTracker

    with served() as s:
        tracker = BackgroundTracker(s.gateway, round_s=1.0, idle_s=0.1).start()
        try:
            r = httpx.post(
                f"{s.base_url}/v1/videos",
                json={"model": "dop-lite", "prompt": "a fox", "image_url": IMAGE},
            )
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 30
            while s.gateway.get(r.json()["id"]).status is not JobStatus.succeeded:
                assert time.monotonic() < deadline, "the job was never tracked to the end"
                time.sleep(0.1)
        finally:
            tracker.stop()
        assert tracker.rounds >= 1
        assert s.gateway.store.lease(r.json()["id"]) is None  # let go after its round


def test_videogw_serve_with_emulators_answers_curl_style_calls(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "VIDEOGW_DISABLE_PLUGIN_AUTOLOAD"}
    env["VIDEOGW_CONFIG"] = str(tmp_path / "none.toml")  # no user config
    (tmp_path / "none.toml").write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "videogw.cli", "serve", "--emulators", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "videogw serve did not start"
            time.sleep(0.2)
        created = httpx.post(
            f"{base}/v1/videos",
            json={"model": "dop-lite", "prompt": "a red fox", "image_url": IMAGE},
        )
        assert created.status_code == 200, created.text
        video_id = created.json()["id"]
        while (video := httpx.get(f"{base}/v1/videos/{video_id}").json())["status"] in (
            "queued",
            "in_progress",
        ):
            assert time.monotonic() < deadline + 60
            time.sleep(0.3)
        assert video["status"] == "completed", video
        content = httpx.get(f"{base}/v1/videos/{video_id}/content")
        assert content.status_code == 200
        assert content.content
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "videogw"
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_concurrent_submits_never_pass_a_key_budget_together(keyed) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    s = keyed
    _, secret = create_key(s.gateway.store, "racer", Decimal("0.15"))

    def submit(n: int) -> int:
        r = httpx.post(
            f"{s.base_url}/v1/videos",
            json={"model": "higgsfield:dop-lite", "prompt": f"fox {n}", "image_url": IMAGE},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=60,
        )
        return r.status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(submit, range(6)))
    assert codes == [200] + [402] * 5  # $0.125 each against $0.15 a day
    assert s.provider_jobs() == 1
