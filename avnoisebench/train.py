"""`python -m avnoisebench.train ...` (e.g. under torchrun): the same run as `avnb train`."""

import typer

from avnoisebench.cli.train import train

if __name__ == "__main__":
    typer.run(train)
