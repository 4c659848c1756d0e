"""`python -m avnoisebench ...` (e.g. under torchrun: `torchrun --nproc-per-node 2 -m avnoisebench train ...`): the
`avnb` command line."""

from avnoisebench.cli.main import app

if __name__ == "__main__":
    app(prog_name="avnb")
