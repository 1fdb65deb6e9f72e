"""zalogate.channels."""
