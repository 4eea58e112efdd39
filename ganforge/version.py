"""The package version: a leaf, so modules inside ganforge read it without importing the package face."""

__version__ = "0.3.0"
