"""bed role (in progress)."""

from .base import Role


class BedRole(Role):
    NAME = "bed"


ROLE = BedRole
