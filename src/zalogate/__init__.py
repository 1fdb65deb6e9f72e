"""zalogate: connect AI agents to Zalo through the official Bot API or a personal account."""

__version__ = "0.2.0"

__all__ = ["__version__"]
