"""Overseer package."""
