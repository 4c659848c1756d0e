"""Media: clip download and adoption, probing, status log, video and audio decoding."""
