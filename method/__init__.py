"""The proposed two-phase noise-tolerant method (Han et al.) as a harness plug-in."""
