"""hwevrsnas: hardware-aware evolutionary NAS with a representation-similarity proxy, on exact tables."""

__version__ = "0.1.0"
