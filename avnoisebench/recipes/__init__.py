"""Benchmark recipes, one module per benchmark (as lhotse has one per corpus): each reads and checks its sources,
samples (and renders, where its media is generated) a clean Benchmark, then hands it to the noise step and the folder
writer. `registry.RECIPES` holds them by name; `avnb build <name>` is a thin layer over each."""
