"""Built-in policy solvers of Echelon: single-echelon Monte Carlo, guaranteed-service."""

__version__ = "0.1.0"
__all__ = ["__version__"]
