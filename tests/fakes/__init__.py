"""Local fakes of Google Cloud services (Vertex AI REST, Cloud Monitoring gRPC) for tests."""
