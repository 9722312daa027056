"""Formats shared by every layer that checks user input (stack files, waivers, template answers, copier.yml)."""

from __future__ import annotations

from typing import Final

#: An e-mail address: budget and alert recipients, owners, waiver approvers. copier.yml's owners validator
#: spells the same pattern (a test keeps them equal).
EMAIL: Final = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
