"""The model registry: versions and aliases of registered models."""
