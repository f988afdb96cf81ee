"""A third-party Echelon plugin, as a plugin author would write it."""

__version__ = "0.2.0"
