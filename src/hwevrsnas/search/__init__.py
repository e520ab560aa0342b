"""Searches: the method registry (`METHODS`), the search problem, the GA and its baselines, costs, penalties,
running a search and its record.

Importing this package does not import torch: methods name their runner and proxy, which are
imported when a search runs.
"""

from hwevrsnas.search.config import GAConfig
from hwevrsnas.search.methods import METHODS, Method, get_method, register_method

__all__ = ["METHODS", "GAConfig", "Method", "get_method", "register_method"]
