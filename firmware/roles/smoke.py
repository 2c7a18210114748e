"""smoke role (in progress)."""

from .base import Role


class SmokeRole(Role):
    NAME = "smoke"


ROLE = SmokeRole
