"""zalogate.personal."""
