"""Moving to zalogate from another gateway: ``zalogate import openclaw``."""
