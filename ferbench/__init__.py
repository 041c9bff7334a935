"""ferbench: an open benchmark for synthetic facial-expression training data."""

__version__ = "0.1.0"

#: Bumped whenever a change alters what a protocol's numbers mean (training loop, metrics,
#: data preparation). Stored with every score.
PROTOCOL_ENGINE_VERSION = 1
