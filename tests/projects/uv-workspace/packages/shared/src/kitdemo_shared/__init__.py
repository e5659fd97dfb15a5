"""Shared by the workspace's services."""

from __future__ import annotations


def label(project: str) -> str:
    return f"kitdemo/{project}"
