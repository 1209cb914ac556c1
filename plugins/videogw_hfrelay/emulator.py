"""An emulator of the "/higgsfield/*" relay API (docs/providers/hfrelay.md).

Routes: ``POST /higgsfield/generate``, ``/higgsfield/speech`` (and ``/higgsfield/speak``,
the guide's spelling), ``/higgsfield/ads``, ``POST /higgsfield/feed/{task_id}``, ``GET
/higgsfield/tpl/{kind}``, all behind ``Authorization: Bearer``; ``GET /files/{name}``
serves the finished videos. A task's job set is computed from the shared job clock:
``queued`` -> ``in_progress`` -> ``completed`` (or ``failed`` / ``nsfw``, steered by
``emulate:failed`` / ``emulate:nsfw`` in the prompt or by the fault profile).
Error bodies follow the one-api relays' ``{"error": {"message", "type"}}`` [inf].
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from videogw.emulator import EmulatedJob, Emulator, EmuRequest, EmuResponse, Timing

from .config import SPEAK_KEYS
from .tables import STATUSES

__all__ = ["HfRelayEmulator"]

_CDN = "https://cdn.hfrelay.emulator.test"
_NS = uuid.UUID("5b0a3a43-0f7e-4ad2-9a4b-6f0c2f1e8d10")


def _template(name: str, kind: str, categories: list[str], **media: Any) -> dict[str, Any]:
    """A template item in the documented motion-template shape (the other tpl lists are
    assumed to share it [inf]); ids are stable per name."""
    ident = str(uuid.uuid5(_NS, f"{kind}/{name}"))
    return {
        "id": ident,
        "name": name,
        "media": {"width": 320, "height": 202, "url": f"{_CDN}/tpl/{ident}.webp", **media},
        "priority": 0,
        "tags": [],
        "params": None,
        "categories": categories,
    }


# The first item is the documented example (docs.yutoai.net api-313271706); the rest are
# real Higgsfield preset names with made-up ids.
_MOTIONS = [
    {
        "id": "f226ac67-43d3-4726-ad9c-132608bda8b3",
        "name": "Eyes In",
        "media": {
            "width": 320,
            "height": 202,
            "url": "https://d1xarpci4ikg0w.cloudfront.net/a8caa3db-bcf2-4e30-b5fe-37fafdd59140.webp",
            "type": "animated",
        },
        "priority": -1,
        "tags": [],
        "params": None,
        "categories": ["vfx", "epic_camera_control"],
    },
    *(
        _template(name, "motions", categories, type="animated")
        for name, categories in (
            ("Dolly In", ["camera_control"]),
            ("Crash Zoom In", ["epic_camera_control"]),
            ("360 Orbit", ["epic_camera_control"]),
            ("Bullet Time", ["vfx", "epic_camera_control"]),
            ("Crane Up", ["camera_control"]),
            ("Whip Pan", ["camera_control"]),
            ("Head Tracking", ["camera_control"]),
            ("Disintegration", ["vfx"]),
        )
    ),
]
CATALOGS: dict[str, list[dict[str, Any]]] = {
    "motions": _MOTIONS,
    "avatar-presets": [
        _template(name, "avatar-presets", ["avatar"], type="image", width=512, height=512)
        for name in ("News Anchor", "Teacher", "Support Agent", "Vlogger")
    ],
    "voices": [
        _template(name, "voices", ["voice"], type="audio", width=0, height=0)
        for name in ("Calm Female (en)", "Warm Male (en)", "Bright Female (zh)")
    ],
    "sounds": [
        _template(name, "sounds", ["sound"], type="audio", width=0, height=0)
        for name in ("Studio Room", "Street Ambience", "Soft Piano")
    ],
}
_TASK_TYPE = {"generate": "image2video", "speech": "speak", "ads": "product_ads"}  # [inf]
_JOB_STATUS = STATUSES.phases()  # emulated phase -> raw status, from the plugin's table


class HfRelayEmulator(Emulator):
    name = "hfrelay"
    realistic = Timing(queue_s=15.0, run_s=100.0)  # [inf] no latency documented
    PROJECT_ID: ClassVar[str] = "41ff94b3-91b5-424a-a455-0ecef47c9b77"

    def setup_routes(self) -> None:
        self.route("POST", "/higgsfield/generate", "submit", self.generate)
        self.route("POST", "/higgsfield/speech", "submit", self.speech)
        self.route("POST", "/higgsfield/speak", "submit", self.speech)
        self.route("POST", "/higgsfield/ads", "submit", self.ads)
        self.route("POST", "/higgsfield/feed/{task_id}", "status", self.feed)
        self.route("GET", "/higgsfield/tpl/{kind}", "catalog", self.templates)
        self.route("GET", "/files/{name}", "download", self.download, auth=False)

    def credentials(self, request: EmuRequest) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token if scheme == "Bearer" and token else None

    def unauthorized(self, request: EmuRequest) -> EmuResponse:
        return self.error(request, 401, "invalid token")

    def error_body(self, status: int, message: str) -> Any:
        kind = "invalid_request_error" if status < 500 else "upstream_error"
        return {"error": {"message": message, "type": kind}}

    # -- submit ----------------------------------------------------------------------
    async def generate(self, request: EmuRequest) -> EmuResponse:
        body = _object(request)
        problem = (
            _missing(body, "model", "motion_id", "prompt", "image")
            or _images(body, 2)
            or _one_of(body, "model", ("lite", "standard", "turbo"))
        )
        if "seed" in body and not (isinstance(body["seed"], int) and 1 <= body["seed"] <= 10**6):
            problem = problem or "seed must be an integer from 1 to 1000000"
        return self._accept(request, body, "generate", problem)

    async def speech(self, request: EmuRequest) -> EmuResponse:
        body = _object(request)
        problem = _missing(body, "avatar_preset_id", "prompt", "width", "height", "image")
        problem = problem or _images(body, 1)
        speak = body.get("speak")
        if not problem and ("audio" in body) == (speak is not None):
            problem = "give exactly one of audio or speak"
        voice = SPEAK_KEYS["voice_id"]
        if not problem and speak is not None and not (isinstance(speak, dict) and speak.get(voice)):
            problem = f"speak.{voice} is required"
        return self._accept(request, body, "speech", problem)

    async def ads(self, request: EmuRequest) -> EmuResponse:
        body = _object(request)
        problem = _missing(body, "product_placement_sample_id", "image") or _images(body, 1)
        return self._accept(request, body, "ads", problem)

    def _accept(
        self, request: EmuRequest, body: dict[str, Any], endpoint: str, problem: str | None
    ) -> EmuResponse:
        if problem:
            return self.error(request, 400, problem)
        image = body["image"][0]
        job = self.create_job(
            str(body.get("prompt", "")),
            {
                "endpoint": endpoint,
                "prompt": body.get("prompt", ""),
                "seed": body.get("seed"),
                "motion_id": body.get("motion_id"),
                "job_id": self.new_id(),
                "input_url": image if image.startswith("https://") else None,
            },
        )
        return EmuResponse.json({"id": job.id})

    # -- status ----------------------------------------------------------------------
    async def feed(self, request: EmuRequest) -> EmuResponse:
        job = self.jobs.get(request.params["task_id"])
        if job is None:
            return self.error(request, 404, "task not found")
        return EmuResponse.json(self.job_set(job, request.base_url))

    def job_set(self, job: EmulatedJob, base_url: str) -> dict[str, Any]:
        status = _JOB_STATUS[job.phase(self.now())]
        result = None
        if status == "completed":
            result = {
                "min": {"type": "video", "url": f"{base_url}/files/{job.id}_min.mp4"},
                "raw": {"type": "video", "url": f"{base_url}/files/{job.id}.mp4"},
            }
        input_id = str(uuid.uuid5(_NS, job.id))
        return {
            "id": job.id,
            "type": _TASK_TYPE[job.data["endpoint"]],
            "project_id": self.PROJECT_ID,
            "created_at": job.created,
            "params": {
                "prompt": job.data["prompt"],
                "input_image": {
                    "id": input_id,
                    "url": job.data["input_url"] or f"{_CDN}/inputs/{input_id}.jpeg",
                    "type": "media_input",
                },
                "seed": job.data["seed"] or 1 + int(job.id.replace("-", ""), 16) % 1_000_000,
                "steps": 20,
            },
            "jobs": [{"id": job.data["job_id"], "status": status, "result": result}],
        }

    # -- catalogs and files ------------------------------------------------------------
    async def templates(self, request: EmuRequest) -> EmuResponse:
        items = CATALOGS.get(request.params["kind"])
        if items is None:
            return self.error(request, 404, f"no template list {request.params['kind']!r}")
        search = request.query.get("search", "").lower()
        if search:
            items = [
                item
                for item in items
                if search in item["name"].lower() or search in " ".join(item["categories"])
            ]
        try:
            size = int(request.query.get("size", "30"))
        except ValueError:
            return self.error(request, 400, "size must be an integer")
        return EmuResponse.json(items[: max(size, 0)])

    async def download(self, request: EmuRequest) -> EmuResponse:
        name = request.params["name"]
        if name.removesuffix(".mp4").removesuffix("_min") not in self.jobs:
            return self.error(request, 404, "no such file")
        return EmuResponse(200, b"\x00\x00\x00\x18ftypmp42emulated", {"content-type": "video/mp4"})


def _object(request: EmuRequest) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _missing(body: dict[str, Any], *names: str) -> str | None:
    for name in names:
        if body.get(name) in (None, "", []):
            return f"{name} is required"
    return None


def _images(body: dict[str, Any], most: int) -> str | None:
    images = body.get("image")
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        return "image must be an array of URL or base64 strings"
    if not 1 <= len(images) <= most:
        return f"image takes 1 to {most} entries, got {len(images)}"
    return None


def _one_of(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    if body.get(name) not in allowed:
        return f"{name} must be one of {', '.join(allowed)}"
    return None
