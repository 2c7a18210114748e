"""dispenser role (in progress)."""

from .base import Role


class DispenserRole(Role):
    NAME = "dispenser"


ROLE = DispenserRole
