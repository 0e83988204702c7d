"""Operation Encompass pages: settings, key adults and term calendars; incident intake; the key adult's
notifications; monitoring and the unresolved queue.

Importing the package imports each module, and so registers its routes on `bp`.
"""

from __future__ import annotations

from marac.encompass.views import incidents, key_adult, monitoring, settings
from marac.encompass.views.blueprint import bp

__all__ = ["bp", "incidents", "key_adult", "monitoring", "settings"]
