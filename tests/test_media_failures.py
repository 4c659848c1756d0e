"""Status categories of real yt-dlp error messages (from yt-dlp's YouTube extractor, its issue tracker, and this
machine's loopback runs)."""

import pytest

from avnoisebench.media.failures import classify_error
from avnoisebench.media.status import FAILURE_CATEGORIES, TRANSIENT

HINT = (
    "Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/"
    "FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies"
)
MESSAGES = [
    ("ERROR: [youtube] tJ51nR4-tLs: Sign in to confirm you’re not a bot. This helps protect our community. Learn more",
     "bot_check"),
    (f"ERROR: [youtube] tpUr8xVxj-w: Sign in to confirm you're not a bot. {HINT}", "bot_check"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. YouTube is requiring a captcha challenge before playback",
     "bot_check"),
    ("ERROR: [youtube] abcdefghijk: Unable to download API page: HTTP Error 429: Too Many Requests "
     "(caused by <HTTPError 429: Too Many Requests>)", "rate_limited"),
    ("ERROR: [youtube] abcdefghijk: This content isn't available, try again later. The current session has been "
     "rate-limited by YouTube for up to an hour.", "rate_limited"),
    (f"ERROR: [youtube] GtL1huin9EE: Private video. Sign in if you've been granted access to this video. {HINT}",
     "private"),
    ("ERROR: [youtube] abcdefghijk: Join this channel to get access to members-only content like this video, and "
     "other exclusive perks.", "private"),
    (f"ERROR: [youtube] r_jCBNSsrWs: Sign in to confirm your age. This video may be inappropriate for some users. "
     f"{HINT}", "geo_or_age"),
    ("ERROR: [youtube] abcdefghijk: The uploader has not made this video available in your country\nYou might want "
     "to use a VPN or a proxy server (with --proxy) to workaround.", "geo_or_age"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video has been removed by the uploader", "removed"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is no longer available because the YouTube "
     "account associated with this video has been terminated.", "removed"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is no longer available because the uploader has "
     "closed their YouTube account.", "removed"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is no longer available due to a copyright claim "
     "by Some Label", "removed"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable", "unavailable"),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This content isn’t available.", "unavailable"),
    ("ERROR: [generic] yt001_abcde_000001_000003: Unable to download webpage: HTTP Error 404: File not found "
     "(caused by <HTTPError 404: File not found>)", "unavailable"),
    ("ERROR: Unsupported URL: http://127.0.0.1:8000/", "unavailable"),
    ("ERROR: [youtube] abcdefghijk: Requested format is not available. Use --list-formats for a list of available "
     "formats", "unavailable"),
    ("ERROR: [generic] x: Unable to download webpage: HTTPConnection(host='127.0.0.1', port=8766): Failed to "
     "establish a new connection: [Errno 111] Connection refused (caused by TransportError(...))", "network"),
    ("ERROR: [youtube] abcdefghijk: Unable to download webpage: The read operation timed out (caused by "
     "TransportError('The read operation timed out'))", "network"),
    ("ERROR: unable to download video data: HTTP Error 403: Forbidden", "network"),
    ("ERROR: The downloaded file is empty", "corrupt"),
    ("ERROR: Postprocessing: Conversion failed!", "ffmpeg_failed"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "category"), MESSAGES)
def test_classify_error(message: str, category: str) -> None:
    assert classify_error(message) == category


def test_categories_are_the_status_log_ones() -> None:
    found = {category for _, category in MESSAGES}
    assert found <= set(FAILURE_CATEGORIES)
    assert {"rate_limited", "bot_check", "network"} <= TRANSIENT and not {"unavailable", "removed"} & TRANSIENT
