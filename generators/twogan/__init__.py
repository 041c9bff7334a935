"""``twogan``: paper A's identity GAN + expression GAN pipeline (Gholipour Picha, Al Chanti
and Caplier, VISAPP 2023), shaped exactly like an external generator plugin: it imports
only :mod:`ferbench.api` and label constants from ferbench, and registers itself through the
``ferbench.generators`` entry-point group.

Modules: :mod:`.budgets` (compute per budget, in one place), :mod:`.nets` (the four
networks and why), :mod:`.losses` (hinge, WGAN-GP, DiffAugment), :mod:`.train` (training
loop, checkpoint/resume), :mod:`.generator` (the contract), :mod:`.grid` (the PNG grid).
"""

from .budgets import SCHEDULES, Schedule
from .generator import TwoGAN
from .grid import sample_grid

__all__ = ["SCHEDULES", "Schedule", "TwoGAN", "sample_grid"]
