"""Adapters behind the search ports: the embedded profile's (memory matrix, FTS5) and PostgreSQL's."""
