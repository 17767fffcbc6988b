"""Helpers shared by tests (not tests themselves): directory worlds, adversaries, node processes."""
