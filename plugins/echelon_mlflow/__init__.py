"""MLflow tracking plugin of Echelon: the driver logs each run, workers never do."""

__version__ = "0.1.0"
__all__ = ["__version__"]
