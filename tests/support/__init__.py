"""Helpers shared by the test folders.

``from support import mpy``, ``from support.hub import make_config``: one module per part.
"""
