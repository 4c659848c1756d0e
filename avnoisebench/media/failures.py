"""Status-log categories of download errors, read from yt-dlp's error messages."""

import re

# First match wins: specific reasons before the generic "Video unavailable" that YouTube puts in front of many.
PATTERNS: tuple[tuple[str, str], ...] = (
    ("bot_check", r"not a bot|captcha"),
    ("rate_limited", r"HTTP Error 429|too many requests|rate-limited|rate limit|try again later"),
    ("private", r"private video|video is private|members-only|premium members|granted access"),
    ("geo_or_age", r"confirm your age|age-restricted|inappropriate for some users|in your country|geo.?restrict"),
    ("removed", r"removed|terminated|account .{0,60}closed|closed their .{0,30}account|copyright claim"),
    (
        "unavailable",
        r"HTTP Error 404|unavailable|not available|unsupported url|does not exist|isn.t available|looks truncated",
    ),
    ("corrupt", r"downloaded file is empty|moov atom not found|invalid data found"),
    ("ffmpeg_failed", r"postprocessing|conversion failed|ffmpeg"),
)
DEFAULT_CATEGORY = "network"

_COMPILED = tuple((category, re.compile(pattern, re.IGNORECASE)) for category, pattern in PATTERNS)


def classify_error(message: str) -> str:
    """The status category of a yt-dlp error message; anything unrecognised counts as a (transient) network error."""
    return next((category for category, pattern in _COMPILED if pattern.search(message)), DEFAULT_CATEGORY)
