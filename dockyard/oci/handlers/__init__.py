"""The `/v2/` handlers, one module per resource (blobs, uploads, manifests, listings).

Each handler is ``async (door, request, route) -> Response`` and runs after the router has
authenticated and authorized the request; it only translates HTTP to domain calls and back.
"""
