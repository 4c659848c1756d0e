"""External programs (ffmpeg, ffprobe): preflight checks and versions."""

import shutil
import subprocess
from functools import cache

from avnoisebench.errors import AvnbError

INSTALL_HINT = (
    "install it (Debian/Ubuntu: apt-get install ffmpeg; conda: conda install ffmpeg; macOS: brew install ffmpeg)"
)


def require_tools(*names: str) -> None:
    """Fail with one clear message, before any work starts, if a program is not on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise AvnbError(f"{' and '.join(missing)} not found on PATH; {INSTALL_HINT}")


@cache
def tool_version(name: str) -> str:
    """First line of `name -version` (ffmpeg, ffprobe), or 'missing'."""
    if shutil.which(name) is None:
        return "missing"
    done = subprocess.run([name, "-version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"
