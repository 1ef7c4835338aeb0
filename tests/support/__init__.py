"""Test helpers shared by every test package: real PostgreSQL, the real app over real HTTP."""
