"""An empty database on a PostgreSQL server, for the benchmarks that measure the scaled profile."""

from __future__ import annotations


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server and return its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    libpq = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)
