"""Background jobs: a durable record in SQL, a queue that carries only ids, and the runner between them."""
