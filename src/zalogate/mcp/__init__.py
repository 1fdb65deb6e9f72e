"""zalogate.mcp."""
