"""zalogate.runtime."""
