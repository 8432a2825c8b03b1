"""Search: retrieval over chunks, vectors and the keyword index, and the index's own upkeep."""
