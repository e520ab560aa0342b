"""Checks of this package's proxies and references against outside figures (NASLib's archived zero-cost scores,
published correlations, the reference checkpoints' own accuracy): research evidence, run by `hwevrsnas evidence`."""
