"""Real-data adapters, the prepared cache, and the built-in toyfaces data set."""

from ferbench.data.base import FaceData, TrainSet

__all__ = ["FaceData", "TrainSet"]
