"""Sign-off, the coordinator's queue and decisions, safety plans, triggers and overdue lists.

Importing the package imports each module, and so registers its routes on `bp`.
"""

from __future__ import annotations

from marac.cases.casework_views import overdue, plans, queue, signoff, triggers
from marac.cases.casework_views.blueprint import bp

__all__ = ["bp", "overdue", "plans", "queue", "signoff", "triggers"]
