"""Repositories: one per aggregate, each holding the SQL for it and nothing else."""
