"""Model adapters: embedders (and, later, chat models) behind small ports."""
