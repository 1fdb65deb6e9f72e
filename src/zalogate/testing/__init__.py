"""zalogate.testing."""
