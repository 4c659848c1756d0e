"""`avnb probe`: check media files before training."""

import json
from pathlib import Path
from typing import Annotated

import typer

from avnoisebench.cli.app import app, console, user_errors


@app.command()
@user_errors
def probe(
    files: Annotated[list[Path], typer.Argument(help="Media files to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file instead of text.")] = False,
) -> None:
    """Probe media files: streams, duration, frames, and whether the 10 views and the 2 s audio window decode."""
    from avnoisebench.media.check import check_media, describe

    failed = 0
    for path in files:
        check = check_media(path)
        failed += not check.ok
        if as_json:
            console.out(json.dumps(check.as_dict(), default=str), highlight=False)
        else:
            console.print(describe(check), highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)
