"""The README's two commands are what CI runs: its install block line by line, then its test command."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def block(section: str) -> list[str]:
    """The lines of the first code block under a `## section` heading of the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8").split(f"## {section}\n", 1)[1]
    code = re.search(r"```\n(.*?)```", text, flags=re.DOTALL)
    assert code, f"README section {section} has no code block"
    return [line.split("#")[0].strip() for line in code.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_install_block_then_its_test_command() -> None:
    install, test = block("Install"), block("Test")
    assert install[0].startswith("pip install torch==") and "--index-url" in install[0] and install[0].endswith("/cpu")
    ci = [
        line.strip().replace("python -m pip install -q ", "pip install ", 1)
        for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ]
    steps = [i for i, line in enumerate(ci) if line in install]
    assert [ci[i] for i in steps] == install, f".ci/run must run the README's install lines {install} in order"
    assert ci.index(test[0]) > steps[-1]
