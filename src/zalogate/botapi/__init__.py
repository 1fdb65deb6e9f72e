"""zalogate.botapi."""
