"""Logs and metrics: configured by the app factory or CLI, never at import."""
