"""Issue 16: the CLI used as a person would (the first ten minutes) and as a hostile user
would (every bad input is one typed error line, never a traceback). Through the real CLI:
typer's runner here, subprocesses in test_cli_loopback.py, a pty in test_cli_terminal.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from test_cli import IMAGE, REQUEST, World, one_error_line
from toy import SecondToyProvider, ToyProvider
from videogw import MemoryStore
from videogw.cli import app
from videogw.commands.common import CliState
from videogw.config import Config, load_config
from videogw.emulator import FakeClock
from videogw.emulator.harness import emulate
from videogw.errors import InvalidRequestError
from videogw.testing import registry_with


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    registry = registry_with(ToyProvider, SecondToyProvider)
    return World(emulate(["toy", "toy2"], registry=registry, clock=clock), MemoryStore(), clock)


# -- which config file ---------------------------------------------------------------------


def _config_line(world: World, *args: str, env: dict[str, str] | None = None) -> str:
    state = CliState(gateway_factory=world.factory)
    result = CliRunner().invoke(app, [*args, "providers"], obj=state, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[0]


def test_the_config_is_found_in_the_documented_order_and_named(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIDEOGW_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert _config_line(world).startswith("no config loaded (looked for --config")

    user = tmp_path / "xdg" / "videogw" / "videogw.toml"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert _config_line(world) == f"config: {user} (from the user config directory)"

    here = tmp_path / "videogw.toml"
    here.write_text("")
    assert _config_line(world) == f"config: {here} (from ./videogw.toml)"

    named = tmp_path / "env.toml"
    named.write_text("")
    line = _config_line(world, env={"VIDEOGW_CONFIG": str(named)})
    assert line == f"config: {named} (from $VIDEOGW_CONFIG)"

    given = tmp_path / "given.toml"
    given.write_text("")
    line = _config_line(world, "--config", str(given), env={"VIDEOGW_CONFIG": str(named)})
    assert line == f"config: {given} (from --config)"


def test_a_config_in_the_current_directory_is_used(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIDEOGW_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "videogw.toml").write_text('[routes.dop-lite]\ncandidates = ["toy2"]\n')
    result = world.json("explain", *REQUEST)
    assert result["route"]["candidates"] == ["toy2"]


@pytest.mark.parametrize(
    "content",
    [
        '[routes.dop-lite]\ncandidates = ["toy"]\n'.encode("utf-16"),
        bytes(range(256)),
        b"\x00\x01\x02\xff\xfe",
    ],
    ids=["utf-16", "binary", "nul"],
)
def test_a_config_that_is_not_utf8_text_is_one_line_exit_2(
    world: World, tmp_path: Path, content: bytes
) -> None:
    config = tmp_path / "videogw.toml"
    config.write_bytes(content)
    result = world.invoke("--config", str(config), "providers")
    assert result.exit_code == 2
    assert str(config) in one_error_line(result)


def test_a_config_that_is_a_directory_is_one_line_exit_2(world: World, tmp_path: Path) -> None:
    result = world.invoke("--config", str(tmp_path), "providers")
    assert result.exit_code == 2
    assert "cannot read config file" in one_error_line(result)


# -- init and completion -------------------------------------------------------------------


def test_init_writes_a_commented_starter_config(tmp_path: Path) -> None:
    target = tmp_path / "videogw.toml"
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert text.startswith("# videogw configuration")
    assert "[routes.dop-lite]" in text
    load_config(target)  # every line is a comment or valid
    again = CliRunner().invoke(app, ["init", str(target)])
    assert again.exit_code == 2
    assert "--force" in again.stderr
    assert CliRunner().invoke(app, ["init", str(target), "--force"]).exit_code == 0


def test_init_for_emulators_is_a_valid_config_with_downloads_allowed(tmp_path: Path) -> None:
    # a new process, with the installed plugins (the tests' own registries are empty)
    env = {k: v for k, v in os.environ.items() if k != "VIDEOGW_DISABLE_PLUGIN_AUTOLOAD"}
    target = tmp_path / "videogw.toml"
    result = subprocess.run(
        [sys.executable, "-m", "videogw.cli", "init", "--emulators", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = load_config(target)
    assert config.download.allow_private is True
    assert set(config.providers) >= {"pixazo", "segmind", "higgsfield", "hfrelay"}
    assert config.providers["pixazo"]["base_url"].startswith("http://127.0.0.1:")
    assert "videogw emulate --port 8700" in result.stderr
    assert "export VIDEOGW_EMU_PIXAZO_API_KEY=" in result.stdout


def test_shell_completion_can_be_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.completion

    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.stdout
    # `--show-completion` is a flag that detects the shell from the process tree (through
    # shellingham): under a runner whose parent is not bash/zsh/fish it said "not supported"
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    shown = CliRunner().invoke(app, ["--show-completion"])
    assert shown.exit_code == 0, (shown.output, repr(shown.exception))
    assert "videogw" in shown.stdout.lower() or "complete" in shown.stdout.lower()


# -- hostile input: one typed error line and exit 2, never a traceback ---------------------


def _no_traceback(result: object) -> None:
    text = getattr(result, "output", "") + getattr(result, "stderr", "")
    assert "Traceback" not in text
    assert getattr(result, "exception", None) is None or isinstance(
        result.exception,  # type: ignore[attr-defined]
        SystemExit,
    )


def test_jobs_limit_is_bounded_on_the_sqlite_ledger(tmp_path: Path) -> None:
    env = {"VIDEOGW_LEDGER": str(tmp_path / "ledger.sqlite3"), "VIDEOGW_CONFIG": ""}
    ok = CliRunner().invoke(app, ["jobs", "-n", "3", "--json"], env=env)
    assert ok.exit_code == 0, ok.output
    huge = CliRunner().invoke(app, ["jobs", "-n", str(10**30)], env=env)
    assert huge.exit_code == 2
    _no_traceback(huge)
    assert "--limit" in huge.stderr


def test_a_ledger_path_that_is_a_directory_is_a_configuration_error(tmp_path: Path) -> None:
    env = {"VIDEOGW_LEDGER": str(tmp_path), "VIDEOGW_CONFIG": ""}
    result = CliRunner().invoke(app, ["jobs"], env=env)
    assert result.exit_code == 2
    _no_traceback(result)
    assert "is a directory" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["emulate", "pixazo", "--port", "99999"],
        ["emulate", "pixazo", "segmind", "--port", "65535"],  # the second port overflows
        ["webhooks", "serve", "--port", "99999"],
        ["webhooks", "serve", "--port", "-1"],
        ["webhooks", "serve", "--max-body", "0"],
    ],
)
def test_ports_and_sizes_out_of_range_exit_2(args: list[str]) -> None:
    # a new process with the installed plugins, as a person runs it
    env = {k: v for k, v in os.environ.items() if k != "VIDEOGW_DISABLE_PLUGIN_AUTOLOAD"}
    result = subprocess.run(
        [sys.executable, "-m", "videogw.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_an_unwritable_output_is_refused_before_anything_is_submitted(world: World) -> None:
    result = world.invoke("run", *REQUEST, "--output", "/proc/version")
    assert result.exit_code == 2
    assert "--output" in one_error_line(result)
    assert sum(world.emulated.emulators["toy"].counts.values()) == 0  # nothing was sent
    job = world.json("submit", *REQUEST)
    world.json("wait", job["id"])
    result = world.invoke("download", job["id"], "--output", "/proc/version")
    assert result.exit_code == 2
    assert "--output" in one_error_line(result)


def test_a_deeply_nested_option_value_is_refused(world: World) -> None:
    deep = "[" * 5000 + "]" * 5000
    result = world.invoke("submit", *REQUEST, "--option", f"x={deep}")
    assert result.exit_code == 2
    assert "--option x" in one_error_line(result)


def test_a_provider_chosen_file_name_is_not_used_as_is(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from videogw.commands.backend import default_output_path
    from videogw.models import Output

    job = SimpleNamespace(id="job-1", outputs=[Output(url="https://cdn.example/v." + "x" * 300)])
    path = default_output_path(job, 0, tmp_path)  # type: ignore[arg-type]
    assert path.name == "job-1.mp4"
    path.write_bytes(b"ok")  # a name the file system takes


# -- wording: commands, not Python; no pydantic prefixes; did you mean -----------------------


def test_a_timeout_names_the_command_to_run(world: World) -> None:
    slow = world.json("submit", *REQUEST[:-4], "--prompt", "emulate:queue=1000", "--image", IMAGE)
    result = world.invoke("wait", slow["id"], "--timeout", "30")
    assert result.exit_code == 4
    line = one_error_line(result, after_progress=True)
    assert f"`videogw wait {slow['id']}`" in line
    assert "wait()" not in line


def test_a_short_job_id_says_a_prefix_needs_six_characters(world: World) -> None:
    result = world.invoke("status", "abc")
    assert result.exit_code == 2
    assert "a prefix needs 6+ characters" in one_error_line(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "dop-lit"], "did you mean 'dop-lite'"),
        (["--model", "dop-lit"], "`videogw models`"),
        (["--model", "toyy:dop-lite"], "did you mean 'toy'"),
        (["--model", "dop-lite", "--option", "nope=1"], "unknown option"),
    ],
)
def test_did_you_mean(world: World, args: list[str], expected: str) -> None:
    result = world.invoke("submit", "--prompt", "a cat", "--image", IMAGE, *args)
    assert result.exit_code == 2
    assert expected in one_error_line(result)


def test_unknown_request_fields_get_a_suggestion_from_the_library(world: World) -> None:
    gateway = world.factory(Config())
    with pytest.raises(InvalidRequestError, match=r"unknown field.*did you mean 'prompt'"):
        gateway.estimate(model="dop-lite", promt="a cat", image=IMAGE)


def test_no_pydantic_prefixes_in_messages(world: World, tmp_path: Path) -> None:
    config = tmp_path / "videogw.toml"
    config.write_text('public_url = "http://hooks.example.com"\n')
    result = world.invoke("--config", str(config), "providers")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "public_url must start with https://" in line
    assert "Value error" not in line
    bad = world.invoke("submit", *REQUEST, "--motion", "m:7")
    assert "Value error" not in bad.stderr


def test_catalog_of_a_provider_without_catalogs_says_what_to_do(world: World) -> None:
    result = world.invoke("catalog", "toy")
    assert result.exit_code == 2
    assert "has no catalogs" in one_error_line(result)
    unknown = world.invoke("catalog", "--kind", "nonsense")
    assert unknown.exit_code == 2
    assert "no provider has a 'nonsense' catalog" in one_error_line(unknown)


# -- a submit every provider refused ---------------------------------------------------------


def test_refused_by_every_provider_prints_each_reason_and_the_job_id(
    world: World, tmp_path: Path
) -> None:
    from videogw.emulator import FaultProfile

    config = tmp_path / "videogw.toml"
    config.write_text('[routes.dop-lite]\ncandidates = ["toy", "toy2"]\n')
    world.emulated.emulators["toy"].faults = FaultProfile.parse("submit:503")
    world.emulated.emulators["toy2"].faults = FaultProfile.parse("submit:429")
    result = world.invoke("--config", str(config), "submit", *REQUEST)
    assert result.exit_code == 3
    line = one_error_line(result)
    (job,) = world.store.find()
    assert job.id in line
    assert "refused by all 2 providers, nothing charged" in line
    assert "toy: HTTP 503" in line
    assert "toy2: HTTP 429" in line
    status = world.invoke("status", job.id)
    assert "refused by all 2 providers, nothing charged" in status.stdout
    assert "outcome unknown" not in status.stdout


# -- the try order and why, always, in one order -----------------------------------------------


def test_the_try_order_is_shown_and_the_same_everywhere(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal

    from videogw.models import CostEstimate

    def cheaper(self: object, prepared: object) -> CostEstimate:
        return CostEstimate(amount=Decimal("0.05"), basis="toy2 table", source="test")

    monkeypatch.setattr(SecondToyProvider, "estimate", cheaper)
    # no route: the order is the config's, and explain says so
    plain = world.json("explain", *REQUEST)
    assert plain["strategy"] == "config order"
    assert "no route for dop-lite" in plain["order_text"]
    assert [r["position"] for r in plain["providers"]] == [1, 2]
    assert all(r["why"] for r in plain["providers"])
    # a cheapest route listed as toy, toy2: toy2 is cheaper, so it goes first, everywhere
    config = tmp_path / "videogw.toml"
    config.write_text('[routes.dop-lite]\ncandidates = ["toy", "toy2"]\nstrategy = "cheapest"\n')
    explained = world.json("--config", str(config), "explain", *REQUEST)
    assert explained["order"] == ["toy2", "toy"]
    assert explained["order_text"].startswith("try order: toy2 > toy (route dop-lite")
    assert [r["provider"] for r in explained["providers"]] == ["toy2", "toy"]
    assert explained["providers"][0]["why"].startswith("cheapest first: $0.05")
    for command in ("estimate", "compare"):
        rows = world.json("--config", str(config), command, *REQUEST)
        assert [(r["position"], r["provider"]) for r in rows] == [(1, "toy2"), (2, "toy")]
    human = world.invoke("--config", str(config), "explain", *REQUEST)
    assert "try order: toy2 > toy" in human.stdout
    assert human.stdout.index("toy2 ") < human.stdout.index("toy ")


# -- costs in their own units; took by the provider's clock -----------------------------------


def test_compare_run_never_totals_different_units_into_one_figure(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal

    from videogw.models import CostEstimate

    def in_credits(self: object, prepared: object) -> CostEstimate:
        return CostEstimate(amount=Decimal(12), currency="credits", basis="t", source="t")

    monkeypatch.setattr(SecondToyProvider, "estimate", in_credits)
    declined = world.invoke("compare", *REQUEST, "--run", input="n\n")
    assert declined.exit_code == 1
    assert "about $0.10 + 12 credits in total?" in declined.stderr
    table = world.invoke("estimate", *REQUEST)
    assert "12 credits" in table.stdout


def test_took_is_the_providers_time_when_it_says(tmp_path: Path) -> None:
    from videogw_pixazo import PixazoProvider

    clock = FakeClock()
    emulated = emulate(["pixazo"], registry=registry_with(PixazoProvider), clock=clock)
    store = MemoryStore()

    def factory(config: Config) -> object:
        return emulated.gateway(sync=True, store=store, clock=clock)

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), obj=CliState(gateway_factory=factory))
        assert result.exit_code == 0, result.output
        return result.stdout

    request = ["-m", "pixazo:dop-lite", "-p", "a cat", "--image", IMAGE, "--motion", "m-1"]
    run("run", *request, "--no-download")
    (job,) = store.find()
    assert "completed_at" in job.provider_data
    assert "by the provider's clock" in run("status", job.id, "--local")


# -- spend -------------------------------------------------------------------------------------


def test_spend_from_the_ledger(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):
        job = world.json("submit", *REQUEST)
        world.json("wait", job["id"])
    failed = world.json("submit", *REQUEST[:-4], "--prompt", "x emulate:failed", "--image", IMAGE)
    world.invoke("wait", failed["id"])
    report = world.json("spend")
    assert report["by"] == "provider"
    assert sum(row["jobs"] for row in report["rows"]) == 3
    assert report["total"] == {"USD": "0.20"}  # the failed job was refunded
    by_model = world.json("spend", "--by", "model", "--since", "2000-01-01")
    assert [row["model"] for row in by_model["rows"]] == ["dop-lite"]
    assert world.json("spend", "--since", "1d")["rows"] == []  # the emulated jobs are older
    human = world.invoke("spend", "--by", "day")
    assert human.exit_code == 0
    assert "total: $0.20" in human.stdout
    bad = world.invoke("spend", "--since", "last tuesday")
    assert bad.exit_code == 2
    assert "--since" in one_error_line(bad)


def test_a_pixazo_request_without_a_prompt_is_refused_before_sending() -> None:
    from videogw_pixazo import PixazoProvider

    clock = FakeClock()
    emulated = emulate(["pixazo"], registry=registry_with(PixazoProvider), clock=clock)

    def factory(config: Config) -> object:
        return emulated.gateway(sync=True, store=MemoryStore(), clock=clock)

    args = ["submit", "-m", "pixazo:dop-lite", "--image", IMAGE, "--motion", "m-1"]
    result = CliRunner().invoke(app, args, obj=CliState(gateway_factory=factory))
    assert result.exit_code == 2, result.output
    assert "prompt" in one_error_line(result)
    assert emulated.emulators["pixazo"].count("submit") == 0
