"""The `avnb` command line: a thin layer over the library."""
