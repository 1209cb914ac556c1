"""The `videogw` command through typer's runner, against in-process toy emulators.

Each invocation builds a fresh gateway (as a new process would) on one shared store, which
stands in for the ledger between invocations; the emulators and the gateway share a fake
clock, so waiting takes no wall time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from toy import SecondToyProvider, ToyProvider
from videogw import Gateway, Job, JobStatus, MemoryStore
from videogw.cli import app
from videogw.commands.common import CliState, parse_motion, request_fields
from videogw.config import Config
from videogw.emulator import FakeClock, FaultProfile
from videogw.emulator.harness import Emulated, emulate
from videogw.errors import InvalidRequestError
from videogw.testing import registry_with

IMAGE = "https://example.com/cat.jpg"
REQUEST = ["--model", "dop-lite", "--prompt", "a cat", "--image", IMAGE]
COMMANDS = [
    "providers",
    "models",
    "estimate",
    "explain",
    "compare",
    "submit",
    "status",
    "wait",
    "cancel",
    "run",
    "download",
    "jobs",
    "resume",
    "spend",
    "init",
    "catalog",
    "emulate",
    "demo",
]


@dataclass
class World:
    emulated: Emulated
    store: MemoryStore
    clock: FakeClock

    def factory(self, config: Config) -> Gateway:
        merged = self.emulated.config(routes={k: v.model_dump() for k, v in config.routes.items()})
        gateway: Gateway = self.emulated.gateway(
            sync=True, config=merged, store=self.store, clock=self.clock
        )
        return gateway

    def invoke(self, *args: str, input: str | None = None) -> Result:
        state = CliState(gateway_factory=self.factory)
        return CliRunner().invoke(app, list(args), obj=state, input=input)

    def json(self, *args: str, code: int = 0) -> Any:
        result = self.invoke(*args, "--json")
        assert result.exit_code == code, (result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    registry = registry_with(ToyProvider, SecondToyProvider)
    emulated = emulate(["toy", "toy2"], registry=registry, clock=clock)
    return World(emulated, MemoryStore(), clock)


def one_error_line(result: Result, *, after_progress: bool = False) -> str:
    """The error, as one line on stderr (after the live progress line, for `wait`)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == (2 if after_progress else 1), result.stderr
    assert lines[-1].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[-1]


# -- help and usage ------------------------------------------------------------------------


def test_help_documents_exit_codes_and_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Exit codes: 0 ok; 1 the job did not succeed; 2 bad input" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout
    assert CliRunner().invoke(app, ["--version"]).stdout.startswith("videogw ")


@pytest.mark.parametrize("command", [*COMMANDS, "webhooks serve"])
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_usage_errors_exit_2(world: World) -> None:
    assert world.invoke("estimate").exit_code == 2  # --model is required
    assert world.invoke("no-such-command").exit_code == 2
    assert world.invoke("status").exit_code == 2


def test_request_options_are_parsed() -> None:
    assert parse_motion("abc-123") == {"id": "abc-123"}
    assert parse_motion("abc:0.7") == {"id": "abc", "strength": 0.7}
    fields = request_fields(
        {"model": "m", "prompt": "", "duration": 5, "motion": "x:1", "option": ["a=1", "b=hi"]}
    )
    assert fields == {
        "model": "m",
        "prompt": "",
        "duration_s": 5,
        "motion": {"id": "x", "strength": 1.0},
        "options": {"a": 1, "b": "hi"},
    }
    with pytest.raises(InvalidRequestError, match="KEY=VALUE"):
        request_fields({"model": "m", "prompt": "", "option": ["novalue"]})
    namespaced = ["higgsfield.hf_expires_after=7200", "pixazo.check_nsfw=false", "a=1"]
    assert request_fields({"model": "m", "prompt": "", "option": namespaced})["options"] == {
        "higgsfield": {"hf_expires_after": 7200},
        "pixazo": {"check_nsfw": False},
        "a": 1,
    }


# -- read commands ---------------------------------------------------------------------------


def test_providers_and_models(world: World) -> None:
    rows = world.json("providers")
    toy = next(r for r in rows if r["name"] == "toy")
    assert toy["cancel"] is True
    assert toy["ready"] is True
    assert "dop-lite" in toy["models"]
    models = {m["model"]: m for m in world.json("models")}
    assert {p["provider"] for p in models["dop-lite"]["providers"]} == {"toy", "toy2"}
    human = world.invoke("providers")
    assert human.exit_code == 0
    assert "toy2" in human.stdout


def test_estimate_json_and_table(world: World) -> None:
    rows = world.json("estimate", *REQUEST)
    assert {r["provider"] for r in rows} == {"toy", "toy2"}
    assert rows[0]["estimate"]["amount"] == "0.10"
    assert rows[0]["candidate"] is True
    table = world.invoke("estimate", *REQUEST)
    assert table.exit_code == 0
    assert "$0.10" in table.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--seed", "0"], "seed"),
        (["--aspect-ratio", "wide"], "aspect_ratio"),
        (["--option", "style"], "--option"),
        (["--option", "nope=1"], "options.nope"),
        (["--duration", "7"], "duration_s"),
        (["--image", "http://example.com/cat.jpg"], "image"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(world: World, args: list[str], field: str) -> None:
    result = world.invoke("submit", *REQUEST, *args)
    assert result.exit_code == 2
    assert field in one_error_line(result)
    assert result.stdout == ""
    assert sum(world.emulated.emulators["toy"].counts.values()) == 0


def test_unknown_model_and_debug_traceback(world: World) -> None:
    result = world.invoke("submit", "--model", "no-such-model", "--image", IMAGE)
    assert result.exit_code == 2
    assert "no provider serves" in one_error_line(result)
    state = CliState(gateway_factory=world.factory)
    debug = CliRunner().invoke(app, ["--debug", "submit", "--model", "no-such-model"], obj=state)
    assert debug.exit_code == 2
    assert "Traceback" in debug.stderr


def test_explain(world: World, tmp_path: Path) -> None:
    config = tmp_path / "videogw.toml"
    config.write_text('[routes.dop-lite]\ncandidates = ["toy2"]\n')
    result = world.json("--config", str(config), "explain", *REQUEST)
    assert result["route"]["candidates"] == ["toy2"]
    rows = {r["provider"]: r for r in result["providers"]}
    assert rows["toy2"]["candidate"] is True
    assert rows["toy"]["candidate"] is False
    assert rows["toy"]["reason"]
    human = world.invoke("--config", str(config), "explain", *REQUEST)
    assert "strategy priority" in human.stdout


def test_config_errors_name_the_line(world: World, tmp_path: Path) -> None:
    config = tmp_path / "videogw.toml"
    config.write_text('[routes.dop-lite]\ncandidates = ["toy"]\nbogus = 1\n')
    result = world.invoke("--config", str(config), "estimate", *REQUEST)
    assert result.exit_code == 2
    assert "line 3" in one_error_line(result)
    missing = world.invoke("--config", str(tmp_path / "absent.toml"), "providers")
    assert missing.exit_code == 2
    assert "cannot read config file" in one_error_line(missing)
    state = CliState(gateway_factory=world.factory)
    via_env = CliRunner().invoke(app, ["providers"], obj=state, env={"VIDEOGW_CONFIG": str(config)})
    assert via_env.exit_code == 2


def test_compare_and_compare_run(world: World) -> None:
    rows = world.json("compare", *REQUEST)
    assert {r["provider"] for r in rows} == {"toy", "toy2"}
    assert all("measured" not in r for r in rows)

    declined = world.invoke("compare", *REQUEST, "--run", input="n\n")
    assert declined.exit_code == 1
    assert "real job" in declined.stderr
    assert world.emulated.emulators["toy"].count("submit") == 0

    rows = world.json("compare", *REQUEST, "--run", "--yes")
    measured = {r["provider"]: r["measured"] for r in rows}
    assert measured["toy"]["status"] == "succeeded"
    assert measured["toy2"]["status"] == "succeeded"
    assert measured["toy"]["actual_cost"] == "0.10"
    assert world.emulated.emulators["toy"].count("submit") == 1
    assert world.emulated.emulators["toy2"].count("submit") == 1

    human = world.invoke("compare", *REQUEST, "--run", input="y\n")
    assert human.exit_code == 0
    assert "measured" in human.stdout


def test_catalog() -> None:
    from videogw_higgsfield import HiggsfieldProvider

    clock = FakeClock()
    emulated = emulate(["higgsfield"], registry=registry_with(HiggsfieldProvider), clock=clock)
    world = World(emulated, MemoryStore(), clock)
    found = world.json("catalog")
    assert found["higgsfield"]["motions"][0]["id"]
    one = world.json("catalog", "higgsfield", "--kind", "motions")
    assert list(one) == ["higgsfield"]
    table = world.invoke("catalog")
    assert "motions" in table.stdout
    wrong = world.invoke("catalog", "higgsfield", "--kind", "voices")
    assert wrong.exit_code == 2
    assert "no 'voices' catalog" in one_error_line(wrong)


# -- job commands ------------------------------------------------------------------------------


def test_submit_status_wait_jobs(world: World) -> None:
    job = world.json("submit", *REQUEST)
    assert job["provider"] in ("toy", "toy2")
    assert job["provider_job_id"]
    status = world.json("status", job["id"])
    assert status["id"] == job["id"]
    local = world.json("status", job["id"], "--local")
    assert local["status"] in ("queued", "running")
    done = world.json("wait", job["id"])
    assert done["status"] == "succeeded"
    assert done["outputs"]
    listed = world.json("jobs")
    assert [j["id"] for j in listed] == [job["id"]]
    assert world.json("jobs", "--status", "failed") == []
    assert len(world.json("jobs", "--model", "dop-lite", "--provider", job["provider"])) == 1
    human = world.invoke("jobs")
    assert job["id"][:12] in human.stdout
    assert world.json("status", job["id"][:8], "--local")["id"] == job["id"]  # a prefix works
    panel = world.invoke("status", job["id"])
    assert "succeeded" in panel.stdout
    assert "attempts" in panel.stdout
    submitted = world.invoke("submit", *REQUEST)
    assert submitted.exit_code == 0
    assert "accepted by" in submitted.stdout


def test_wait_exit_codes(world: World) -> None:
    failed = world.json("submit", *REQUEST[:-4], "--prompt", "x emulate:failed", "--image", IMAGE)
    result = world.invoke("wait", failed["id"], "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"

    slow = world.json("submit", *REQUEST[:-4], "--prompt", "emulate:queue=1000", "--image", IMAGE)
    result = world.invoke("wait", slow["id"], "--timeout", "30")
    assert result.exit_code == 4
    assert "keeps running" in one_error_line(result, after_progress=True)

    missing = world.invoke("wait", "no-such-job")
    assert missing.exit_code == 2
    assert "no job 'no-such-job'" in one_error_line(missing)


def test_cancel(world: World) -> None:
    job = world.json("submit", *REQUEST[:-4], "--prompt", "emulate:queue=1000", "--image", IMAGE)
    cancelled = world.json("cancel", job["id"])
    assert cancelled["status"] == "cancelled"
    assert world.store.get(job["id"]).status is JobStatus.cancelled


def test_failover_and_provider_errors(world: World, tmp_path: Path) -> None:
    config = tmp_path / "videogw.toml"
    config.write_text('[routes.dop-lite]\ncandidates = ["toy", "toy2"]\n')
    world.emulated.emulators["toy"].faults = FaultProfile.parse("submit:503*1")
    job = world.json("--config", str(config), "submit", *REQUEST)
    assert [a["outcome"] for a in job["attempts"]] == ["rejected", "accepted"]
    assert job["provider"] == "toy2"
    # every candidate refuses: a provider error, exit 3
    for name in ("toy", "toy2"):
        world.emulated.emulators[name].faults = FaultProfile.parse("submit:503")
    result = world.invoke("--config", str(config), "submit", *REQUEST)
    assert result.exit_code == 3
    assert "503" in one_error_line(result)


def test_unknown_submit_outcome_exits_3(world: World) -> None:
    world.emulated.emulators["toy"].faults = FaultProfile.parse("submit:drop_after_accept*1")
    result = world.invoke("submit", "--model", "toy:dop-lite", "--image", IMAGE, "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "unknown"
    assert "unknown outcome" in result.stderr


def test_run_without_download(world: World) -> None:
    result = world.invoke("run", *REQUEST, "--no-download", "--json")
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded"
    assert job["outputs"][0]["sha256"] is None
    failed = world.invoke("run", *REQUEST[:-4], "--prompt", "emulate:failed", "--image", IMAGE)
    assert failed.exit_code == 1


def test_resume(world: World) -> None:
    job = world.json("submit", *REQUEST)
    report = world.json("resume")
    assert [j["id"] for j in report["jobs"]] == [job["id"]]
    assert report["jobs"][0]["status"] == "succeeded"
    assert report["unknown"] == []
    again = world.invoke("resume")
    assert again.exit_code == 0
    world.emulated.emulators["toy"].faults = FaultProfile.parse("submit:drop_after_accept*1")
    world.invoke("submit", "--model", "toy:dop-lite", "--image", IMAGE)
    result = world.invoke("resume")
    assert result.exit_code == 1
    assert "reconcile" in result.stdout


def test_resume_lists_the_open_jobs_before_its_first_read(world: World) -> None:
    # the live board is filled from this before any status read; it used to look for a
    # gateway method that no longer existed and showed nothing until the first change
    from videogw.commands import backend

    job = world.json("submit", *REQUEST)
    gateway = world.factory(Config())
    try:
        assert [j.id for j in backend.resumable(gateway)] == [job["id"]]
    finally:
        gateway.close()
    world.json("resume")
    gateway = world.factory(Config())
    try:
        assert backend.resumable(gateway) == []  # finished: nothing left to resume
    finally:
        gateway.close()


def test_download_command_without_outputs(world: World) -> None:
    job = world.json("submit", *REQUEST)
    result = world.invoke("download", job["id"])
    assert result.exit_code == 1
    assert "no outputs" in result.stderr


def test_webhooks_serve_builds_the_receiver(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    result = world.invoke("webhooks", "serve", "--port", "9999", "--max-body", "1000")
    assert result.exit_code == 0, result.stderr
    assert served["port"] == 9999
    receiver = served["app"].state.receiver
    assert receiver.max_body == 1000
    assert "public_url (not set" in result.stderr


def test_emulate_rejects_bad_arguments() -> None:
    runner = CliRunner()
    state = CliState()
    unknown = runner.invoke(app, ["emulate", "no-such-provider"], obj=state)
    assert unknown.exit_code == 2
    assert "no provider named" in one_error_line(unknown)
    assert runner.invoke(app, ["emulate", "--profile", "slow"]).exit_code == 2
    assert runner.invoke(app, ["emulate", "--faults", "submit:teapot"]).exit_code == 2


def test_exit_code_table() -> None:
    from videogw import errors
    from videogw.commands.common import code_for
    from videogw.download import DownloadError

    job = Job(model="m", task="image_to_video", idempotency_key="k")
    assert code_for(errors.WaitTimeoutError(job, 5)) == 4
    assert code_for(errors.JobFailedError(job)) == 1
    assert code_for(errors.InvalidRequestError("x")) == 2
    assert code_for(errors.ConfigurationError("x")) == 2
    assert code_for(errors.UnsupportedOperationError("x")) == 2
    assert code_for(errors.NoCandidateError("x")) == 2
    assert code_for(errors.CapacityError("x", provider="p")) == 3
    assert code_for(errors.RequestNotSentError("x")) == 3
    assert code_for(DownloadError("x")) == 3
    assert code_for(RuntimeError("bug")) == 1


def test_an_acceptance_the_ledger_cannot_record_prints_the_provider_job_id(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videogw import AttemptOutcome
    from videogw.errors import LedgerUnavailableError

    real = world.store.update

    def full_disk(job: Job, **kwargs: Any) -> Job:
        if job.attempts and job.attempts[-1].outcome is AttemptOutcome.accepted:
            raise LedgerUnavailableError("ledger: database or disk is full (the disk is full)")
        return real(job, **kwargs)

    monkeypatch.setattr(world.store, "update", full_disk)
    # the one writer retries a busy ledger, then raises with the provider job id
    monkeypatch.setattr("videogw.recorder.UNAVAILABLE_RETRIES", (0.0,))
    result = world.invoke("submit", "--model", "toy:dop-lite", "--image", IMAGE)
    (created,) = world.emulated.emulators["toy"].jobs
    assert result.exit_code == 3, result.stderr
    error = one_error_line(result)
    assert f"toy accepted it as {created}" in error
    assert "disk is full" in error
