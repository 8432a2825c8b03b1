"""Ingestion: accept uploads and URLs, parse, chunk, embed, and index them durably."""
