"""``videogw demo``: the whole product in under a minute, on the built-in emulators.

No config, no keys, no network: every registered provider's emulator is started on
loopback (fast job timing), and one gateway is pointed at them with a route for
``dop-lite`` whose first provider has 503s injected. The walk-through:

1. a catalog (motion presets) and the compare table for a DoP lite request;
2. a job whose first provider answers 503 and fails over to the next, with live progress;
3. the finished job: its attempts, cost, and its output downloaded with a progress bar;
4. a speech-to-video job (``speak-v2`` on Segmind);
5. the ledger: where it is, and the jobs it recorded.

Only videogw and its installed plugins are used (nothing from the tests), so it runs from
a plain ``pip install``. The ledger and the downloads are kept in a temporary directory
that is printed at the end.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

from .commands import backend, render
from .commands.live import download_outputs, follow
from .config import Config
from .download import DownloadPolicy
from .emulator.harness import Emulated, emulate
from .gateway import Gateway
from .models import Job, JobStatus
from .plugins import Registry

__all__ = ["DEMO_ORDER", "run_demo"]

DEMO_ORDER = ("higgsfield", "pixazo", "segmind", "hfrelay")  # the dop-lite route, in order
IMAGE = "https://images.example.com/red-fox.jpg"
AUDIO = "https://audio.example.com/hello-from-videogw.mp3"
FALLBACK_MOTION = "d2389a9a-91c2-4276-bc9c-c9e35e8fb85a"


def _step(console: Console, number: int, title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{number}. {title}", align="left"))


def _motion_id(gateway: Gateway, names: list[str], console: Console) -> str:
    for name in names:
        if "motions" in gateway.provider(name).catalog_kinds:
            motions = gateway.catalog(name, "motions")
            if motions:
                shown = ", ".join(f"{m.get('name', '?')} ({m['id'][:8]}…)" for m in motions[:3])
                console.print(f"motion presets from {name}'s catalog: {shown}")
                return str(motions[0]["id"])
    return FALLBACK_MOTION


def _start(registry: Registry, root: Path) -> tuple[Emulated, Gateway, list[str]]:
    available = sorted(registry.providers)
    route = [name for name in DEMO_ORDER if name in available]
    route += [name for name in available if name not in route]
    faults = {route[0]: "submit:503"} if len(route) > 1 else None
    emulated = emulate(available, registry=registry, loopback=True, timing="fast", faults=faults)
    config = Config.model_validate(
        {
            "providers": emulated.settings,
            "routes": {"dop-lite": {"candidates": route, "strategy": "priority"}},
            "ledger": {"path": str(root / "ledger.sqlite3")},
            "poll": {"floor_s": 0.25, "cap_s": 2.0},
        }
    )
    return emulated, Gateway(config, registry=registry), route


def run_demo(console: Console | None = None) -> int:
    """Run the walk-through; 0 when both demo jobs succeeded."""
    console = console or Console()
    began = time.monotonic()
    registry = Registry(autoload=True)  # the installed plugins, whatever the environment says
    if not registry.providers:
        console.print("[red]no provider plugins are installed[/]", highlight=False)
        for failure in registry.failures:
            console.print(f"  {failure.plugin}: {failure.error}", markup=False)
        return 2
    root = Path(tempfile.mkdtemp(prefix="videogw-demo-"))
    emulated, gateway, route = _start(registry, root)
    try:
        with gateway:
            return _walk(console, emulated, gateway, route, root, began)
    finally:
        emulated.stop()


def _walk(
    console: Console,
    emulated: Emulated,
    gateway: Gateway,
    route: list[str],
    root: Path,
    began: float,
) -> int:
    console.print("[bold]videogw demo[/]: every provider below is a local emulator; no keys needed")
    for name, server in emulated.servers.items():
        console.print(f"  {name:<11} {server.base_url}", highlight=False)

    _step(console, 1, "compare a DoP lite request across providers")
    motion = _motion_id(gateway, route, console)
    request: dict[str, Any] = {
        "model": "dop-lite",
        "prompt": "a red fox turns its head toward the camera",
        "image": IMAGE,
        "motion": {"id": motion},
    }
    rows = backend.compare_rows(gateway, request)
    console.print(render.quotes_table(rows, title="compare: dop-lite (5 s clip)"))

    first = route[0]
    _step(console, 2, f"submit: {first} answers 503 (injected), videogw fails over")
    console.print(f"route for dop-lite: {' > '.join(route)} (priority)", highlight=False)
    job = gateway.submit(**request)
    for attempt in job.attempts[:-1]:
        console.print(f"  {attempt.provider}: {attempt.reason}", style="yellow", markup=False)
    console.print(
        f"  accepted by [bold]{job.provider}[/] as {job.provider_job_id}; nothing was created "
        f"on {first}, so nothing is paid twice",
        highlight=False,
    )
    job = follow(gateway, job, timeout=60, console=console)

    _step(console, 3, "the finished job: attempts, cost, and its output")
    if job.status is JobStatus.succeeded and job.outputs:
        job = download_outputs(
            gateway,
            job,
            dest=root,
            policy=DownloadPolicy(allow_private=True, max_bytes=50 * 1024**2),
            console=console,
            warn=lambda text: console.print(f"warning: {text}", markup=False),
        )
    console.print(render.job_panel(job))
    for output in job.outputs:
        if output.sha256:
            console.print(f"sha256 {output.sha256}  {output.path}", highlight=False)

    speaker = "segmind" if "segmind" in route else None
    _step(console, 4, f"speech to video: speak-v2 on {speaker or 'any provider'}")
    speech = gateway.submit(
        model=f"{speaker}:speak-v2" if speaker else "speak-v2",
        prompt="a friendly presenter says hello",
        image=IMAGE,
        audio=AUDIO,
    )
    speech = follow(gateway, speech, timeout=60, console=console)
    console.print(render.job_panel(speech))

    _step(console, 5, "the ledger")
    where = backend.store_location(gateway.store)
    jobs: list[Job] = gateway.store.find()
    console.print(render.job_table(jobs, title=f"jobs recorded in {where}"))
    console.print(f"ledger: {where}", highlight=False)
    console.print(f"  list them again:  VIDEOGW_LEDGER={where} videogw jobs", highlight=False)
    ok = job.status is JobStatus.succeeded and speech.status is JobStatus.succeeded
    took = time.monotonic() - began
    verdict = "[green]demo finished[/]" if ok else "[red]demo finished with a failed job[/]"
    console.print(f"\n{verdict} in {took:.1f} s", highlight=False)
    return 0 if ok else 1
