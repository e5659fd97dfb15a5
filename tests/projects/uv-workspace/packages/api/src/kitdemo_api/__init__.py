"""The workspace's API service."""
