"""Tests of tools/: the `trygg` command's device tools (flash, provision, walk test, serial),
simulated boards on pseudo-terminals, the benchmarks at tiny sizes, packaging."""
