"""Wire-faithful provider emulators: shared machinery (job clock, faults, serving)."""

from .app import Delivery, DropConnection, Emulator, EmuRequest, EmuResponse
from .clock import EmulatedJob, FakeClock, JobScript, Timing, script_from_prompt
from .faults import PROFILES, Fault, FaultProfile, FaultRule
from .server import LoopbackServer
from .transport import AsyncEmulatorTransport, SyncEmulatorTransport

__all__ = [
    "PROFILES",
    "AsyncEmulatorTransport",
    "Delivery",
    "DropConnection",
    "EmuRequest",
    "EmuResponse",
    "EmulatedJob",
    "Emulator",
    "FakeClock",
    "Fault",
    "FaultProfile",
    "FaultRule",
    "JobScript",
    "LoopbackServer",
    "SyncEmulatorTransport",
    "Timing",
    "script_from_prompt",
]
