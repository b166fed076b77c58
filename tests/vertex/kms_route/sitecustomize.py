"""Test-only: routes Cloud KMS calls of a task container (a kfp.local subprocess) to the local Cloud KMS endpoint.

Python imports this module at start-up when its folder is on PYTHONPATH. With ``TYPEDFLOW_TEST_GCP_KMS_ENDPOINT``
set, ``typedflow.lineage.signing.gcp_kms_client`` (where a ``gcpkms:`` key gets its client) builds the SDK's real
client over its REST transport to that endpoint, as the in-process tests do with monkeypatch; everything else in
the container (the key named in its environment, signing, checking each signature) is the product's own code.
It is put on PYTHONPATH by tests/vertex/test_vertex_lineage.py only, never by project code.
"""

from __future__ import annotations

import os

_ENDPOINT = os.environ.get("TYPEDFLOW_TEST_GCP_KMS_ENDPOINT")

if _ENDPOINT:
    from typing import Any

    from typedflow.lineage import signing

    def _client() -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import kms_v1

        return kms_v1.KeyManagementServiceClient(
            credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": _ENDPOINT}
        )

    signing.gcp_kms_client = _client
