"""File storage for raw uploads."""
