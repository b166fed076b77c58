"""`iam_flows` as the tests import it (tests/vertex is on sys.path): the module tests.vertex.iam_flows."""

from tests.vertex.iam_flows import *
