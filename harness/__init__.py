"""Plumbing shared by tests/ and bench/, so neither imports the other: provider stand-ins and processes.

Development only; not part of any distribution.
"""
