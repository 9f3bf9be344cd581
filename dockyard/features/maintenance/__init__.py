"""Housekeeping: abandoned upload sessions and blob scrubbing."""
