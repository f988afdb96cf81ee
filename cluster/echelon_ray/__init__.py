"""Ray executor for Echelon: one Ray task per batch of SKU networks."""

__version__ = "0.1.0"
__all__ = ["__version__"]
