"""The offline vulnerability database: OSV import (`dockyard vulndb import`) and matching."""

from dockyard.features.scanning.vulndb.importer import ImportStats
from dockyard.features.scanning.vulndb.store import VulnDb

__all__ = ["ImportStats", "VulnDb"]
