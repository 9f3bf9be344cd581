"""Online garbage collection: unreferenced links and blobs, reclaimed while the registry serves."""
