"""toobig: capacity vs. memorization/generalization in small transformers."""

__version__ = "0.1.0"
