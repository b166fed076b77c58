"""Vertex AI Pipelines (KFP v2 PipelineSpec) target."""
