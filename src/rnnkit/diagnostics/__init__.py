"""Diagnostics: gradient checks and the flow of gradients through time."""
