"""Executor: one governed catalog of integrations for AI agents."""

__version__ = "0.1.0"
