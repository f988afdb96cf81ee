"""Echelon's core: data contract, distributions, plugin host, simulation, pipeline."""

__version__ = "0.1.0"
__all__ = ["__version__"]
