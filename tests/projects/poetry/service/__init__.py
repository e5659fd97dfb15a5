"""The Poetry project's service."""
