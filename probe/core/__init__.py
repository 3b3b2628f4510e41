"""The bottom layer: errors, config files, atomic output, device, environment, progress, shared styles."""
