"""One module per resource; each exports `router`.

Routers carry the full path prefix themselves, so a route's own `path_format` is its public template
(metrics and logs label requests with it; `{document_id:uuid}` shows as `{document_id}`).
"""

API_PREFIX = "/api/v1"
