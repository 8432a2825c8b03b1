"""Docent: a self-hosted knowledge assistant."""

__version__ = "0.1.0"
