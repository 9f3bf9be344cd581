"""`dockyard fsck`: check that the metadata database and the blob store agree, and repair what
can be repaired without losing anything a client was told is stored."""
