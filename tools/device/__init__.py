"""Technician tools that reach a board over its serial port: flash, provision, walk test, and
the device file tree (and ROMFS image) that provisioning puts on a board."""
