"""The relays as data: statuses, endpoints, what each endpoint takes, the models.

Sources: docs/providers/hfrelay.md (YutoAI's API pages, OpenAI-HK's page).
"""

from __future__ import annotations

from videogw import Capabilities, JobStatus, ModelSpec, Task, errors
from videogw.tables import ErrorRule, StatusTable

__all__ = [
    "ADS",
    "CAPABILITIES",
    "ENDPOINT",
    "ERRORS",
    "GENERATE",
    "IMAGE_SLOTS",
    "NO_FIELD",
    "NO_FIELD_BY_ENDPOINT",
    "OPTION_ENDPOINTS",
    "SPEECH",
    "STATUSES",
]

GENERATE, SPEECH, ADS = "generate", "speech", "ads"

# queued, in_progress and completed are documented; the rest are the upstream Higgsfield
# job-set values, mapped defensively [inf]. Refunds are not documented: charged is unknown
# after a failure; a completed request is billed (per request).
STATUSES = StatusTable(
    {
        "queued": (JobStatus.queued, None),
        "in_progress": (JobStatus.running, None),
        "completed": (JobStatus.succeeded, True),
        "failed": (JobStatus.failed, None),
        "nsfw": (JobStatus.content_filtered, None),
        "canceled": (JobStatus.cancelled, None),
    }
)

ENDPOINT = {Task.image_to_video: GENERATE, Task.speech_to_video: SPEECH, Task.ad_video: ADS}
# What the wire `image` array holds on each endpoint (generate: documented 1-2 entries,
# the second the end frame; speech and ads: one photo, more not documented [inf]).
IMAGE_SLOTS = {
    GENERATE: ("the start frame", "the end frame"),
    SPEECH: ("the avatar photo",),
    ADS: ("the product photo",),
}
OPTION_ENDPOINTS = {
    "width": (GENERATE, SPEECH),
    "height": (GENERATE, SPEECH),
    "avatar_preset_id": (SPEECH,),
    "voice_id": (SPEECH,),
    "speech_text": (SPEECH,),
    "sound_id": (SPEECH,),
    "product_placement_sample_id": (ADS,),
    "size": (ADS,),
}
# Neutral fields an endpoint has no place for, and what to do instead.
NO_FIELD = {
    "duration_s": "clip length is not settable on this API",
    "quality": "pick the model instead (dop-lite, dop-turbo, dop-standard)",
    "aspect_ratio": "give the frame size in pixels: options.width and options.height",
    "resolution": "give the frame size in pixels: options.width and options.height",
}
NO_FIELD_BY_ENDPOINT = {
    GENERATE: {"audio": "DoP videos have no sound track"},
    SPEECH: {
        "motion": "talking videos take no motion preset",
        "seed": "the speech endpoint takes no seed",
        "enhance_prompt": "the speech endpoint has no prompt enhancer",
    },
    ADS: {
        "prompt": "the ad template sets the action; the ads endpoint takes no prompt",
        "motion": "the ad template sets the motion (options.product_placement_sample_id)",
        "seed": "the ads endpoint takes no seed",
        "enhance_prompt": "the ads endpoint takes no prompt",
        "audio": "the ads endpoint takes no audio",
        "aspect_ratio": "give the video size as options.size, e.g. 1024x1024",
        "resolution": "give the video size as options.size, e.g. 1024x1024",
    },
}


def _dop(model: str) -> ModelSpec:
    return ModelSpec(
        provider_model=model,
        task=Task.image_to_video,
        end_image=True,
        motion_required=True,
        typical_seconds=90,  # [inf] no latency documented
    )


CAPABILITIES = Capabilities(
    models={
        "dop-lite": _dop("lite"),
        "dop-standard": _dop("standard"),
        "dop-turbo": _dop("turbo"),
        "speak-v2": ModelSpec(
            provider_model=SPEECH,
            task=Task.speech_to_video,
            local_files=False,  # base64 is documented for generate only
            typical_seconds=180,  # [inf]
        ),
        "hf-ads": ModelSpec(
            provider_model=ADS, task=Task.ad_video, local_files=False, typical_seconds=120
        ),
    },
    cancel=False,
    webhooks=False,
    idempotency=False,
)

# one-api relays say "quota" (or the Chinese for balance) with 402/403 [inf]: read against
# the error body's message and code; other 401/403 stay authentication errors.
_QUOTA = r"quota|balance|credit|余额|额度"
ERRORS = (
    ErrorRule(402, errors.InsufficientCreditsError, pattern=_QUOTA),
    ErrorRule(403, errors.InsufficientCreditsError, pattern=_QUOTA),
)
