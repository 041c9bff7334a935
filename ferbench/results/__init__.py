"""Results: the DuckDB store (:mod:`.store`), its migrations (:mod:`.migrate`), the one query
layer that the CLI, the report and the leaderboard share (:mod:`.query`), and plain-text
reports (:mod:`.report`)."""

from ferbench.results.store import CellNotFoundError, ResultStore, default_store_path

__all__ = ["CellNotFoundError", "ResultStore", "default_store_path"]
