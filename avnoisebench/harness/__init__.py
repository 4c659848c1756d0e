"""The training harness: settings, training data, the training loop and run log, the method registry."""
