"""``synfer``: SynFER-style diffusion generator (text + AU conditioning, semantic guidance,
pseudo-label rectification) on diffusers, shaped like an external ferbench plugin."""

from .generator import SynFER, SynFERNoGuide, SynFERNoPL
from .grid import sample_grid

__all__ = ["SynFER", "SynFERNoGuide", "SynFERNoPL", "sample_grid"]
