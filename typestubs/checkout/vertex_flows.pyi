"""`vertex_flows` as the tests import it (tests/vertex is on sys.path): the module tests.vertex.vertex_flows."""

from tests.vertex.vertex_flows import *
