"""Tests of hub/arc/ (the alarm receiving centre link): encoders, delivery, failover and crash
safety against independent receivers (pysiaalarm) and raw sockets. Helpers: support/arc.py."""
