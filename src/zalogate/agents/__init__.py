"""zalogate.agents."""
