"""Defaults and fixed catalogs of the emulator. No logic."""

from __future__ import annotations

API_PREFIX = "/openapi/v2"
CONTROL_PREFIX = "/_emulator"

#: generation paths whose page shows the create answer as ``credit`` (reference 4.16): the
#: emulator sends ``credit`` there beside the ``credits`` it always sends (2.4)
CREDIT_SPELLING_PATHS: frozenset[str] = frozenset({"/video/modify/generate"})

#: the key the emulator accepts when none is configured (a demo value, not a secret)
DEMO_API_KEY = "pv-emulator-demo-key"

DEFAULT_PORT = 8080
DEFAULT_JOB_SECONDS = 0.5
DEFAULT_CONCURRENCY = 5  # the Essential plan (reference section 6)
DEFAULT_CREDIT_MONTHLY = 15_000
DEFAULT_CREDIT_PACKAGE = 1_000_000

# Reference timers (section 5 and 7.4), in seconds of the emulator's scaled clock.
SLOT_RELEASE_SECONDS = 600.0
JOB_TIMEOUT_SECONDS = 7200.0
WEBHOOK_RETRY_DELAYS: tuple[float, ...] = (2, 10, 30, 60, 300, 900, 3600, 14400)
WEBHOOK_ATTEMPT_TIMEOUT = 10.0
WEBHOOK_CONCURRENCY = 64

#: IDs are issued above 2**53 (so float bugs surface) and below 2**63 (reference 1.3)
ID_FLOOR = 2**53 + 1
ID_STRIDE_MAX = 977

#: undocumented status values some jobs report while running (fault ``unknown_status_rate``)
UNKNOWN_STATUSES: tuple[int, ...] = (2, 3, 9, 10)

#: bytes per second of a result video, by quality (deterministic, plausible sizes)
RESULT_BYTES_PER_SECOND: dict[int, int] = {360: 40_000, 540: 80_000, 720: 160_000, 1080: 320_000}
RESULT_IMAGE_BYTES = 150_000
FILE_CHUNK = 64 * 1024

#: bytes of an upload's head kept for sniffing (image dimensions, WAV header)
SNIFF_BYTES = 256 * 1024
MOOV_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MEDIA_SECONDS = 5.0
DEFAULT_MEDIA_WIDTH = 1280
DEFAULT_MEDIA_HEIGHT = 720
URL_FETCH_TIMEOUT = 30.0

# Deterministic triggers (README, "Triggers"). Prompt markers decide a job's outcome or make
# input moderation refuse it; upload file names mark media for the input checks.
PROMPT_FAIL = "[emulator:fail]"
PROMPT_MODERATE = "[emulator:moderate]"
PROMPT_STUCK = "[emulator:stuck]"
PROMPT_REJECT = "[emulator:reject]"  # ErrCode 500063
NAME_UPLOAD_MODERATION = "emulator-moderate"  # image upload → HTTP 500, err_code 500052
NAME_INPUT_MODERATION = "emulator-flagged"  # image used as input → 500054
NAME_NO_SUBJECT = "emulator-nosubject"  # mimic image → 701002
NAME_NO_PERSON = "emulator-noperson"  # mimic video → 701003

TTS_SPEAKERS: tuple[tuple[str, str], ...] = (
    ("1", "Emily"),
    ("2", "James"),
    ("3", "Isabella"),
    ("4", "Liam"),
    ("5", "Chloe"),
    ("6", "Adrian"),
    ("7", "Harper"),
    ("8", "Ava"),
    ("9", "Sophia"),
    ("10", "Julia"),
    ("11", "Mason"),
    ("12", "Jack"),
    ("13", "Oliver"),
    ("14", "Ethan"),
    ("Auto", "Auto"),
)
PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100

MASK_NAMES: tuple[str, ...] = ("person", "object", "background")

HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)
HTML_503 = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)
