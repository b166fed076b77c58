"""The authoring layer: ``@task``/``@workflow``, blocks, promises, and tracing a body into the IR."""
