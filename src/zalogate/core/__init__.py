"""zalogate.core."""
