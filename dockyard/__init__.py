"""Dockyard: a self-hosted container registry with Amazon ECR's APIs."""

__version__ = "0.1.0"
