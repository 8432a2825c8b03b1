"""The Model Context Protocol face of Docent: the tools `search`, `ask` and `list_documents`, served over
streamable HTTP at `/mcp` (`docent.api.mcp.http`) and over stdio by `docent mcp` (`docent.api.mcp.stdio`).

Every tool call runs as one principal, resolved for that very call (`PrincipalSource`), through the same
services the HTTP routes use, so `readable_by` decides what a tool may show exactly as it does for a route.
"""
