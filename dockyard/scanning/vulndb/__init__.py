"""The offline vulnerability database: OSV import (`dockyard vulndb import`) and matching."""

from dockyard.scanning.vulndb.importer import ImportStats
from dockyard.scanning.vulndb.store import VulnDb

__all__ = ["ImportStats", "VulnDb"]
