"""One module per resource; each exports `router`.

Routers carry the full path prefix themselves, so a route's own `path` is its public template
(metrics and logs label requests with it).
"""

API_PREFIX = "/api/v1"
