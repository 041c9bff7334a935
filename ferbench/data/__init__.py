"""Real-data adapters, the prepared cache, and the built-in toyfaces data set."""

from ferbench.data.base import FaceData, TrainSet
from ferbench.data.cache import cache_dir, load
from ferbench.data.registry import get_adapter, list_datasets

__all__ = ["FaceData", "TrainSet", "cache_dir", "get_adapter", "list_datasets", "load"]
