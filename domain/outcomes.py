"""(filled in by its owner)"""

from __future__ import annotations

from .part import Part

PART = Part(schemas={}, roles={})
