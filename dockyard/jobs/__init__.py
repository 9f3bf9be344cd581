"""Durable background work: a job queue in the metadata database, and workers on every node."""
