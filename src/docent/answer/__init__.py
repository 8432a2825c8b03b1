"""The answer path: prompts, citations, the extractive answerer and the provider chain (pure core; the
service that retrieves, persists and streams over HTTP sits on top)."""
