"""Baseline methods (late-fusion CE, G-Blend, XDC*, MRL, AV-R, AdaMML) as harness plug-ins."""
