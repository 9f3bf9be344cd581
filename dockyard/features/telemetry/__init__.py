"""What `/metrics` reports about the registry's contents and background work (not per request)."""
