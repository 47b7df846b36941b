"""Backends behind one interface: local (this machine) and vertex (Google Cloud Vertex AI)."""
