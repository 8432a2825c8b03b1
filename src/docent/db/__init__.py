"""Persistence: engine, tables, unit of work and repositories. All SQL of Docent lives here."""
