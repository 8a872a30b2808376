import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness.envoy import Envoy  # noqa: E402
from harness.tokens import Keys, plugin_config  # noqa: E402
from harness.upstream import Upstream  # noqa: E402


@pytest.fixture(scope="session")
def keys():
    return Keys()


@pytest.fixture(scope="session")
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture(scope="session")
def envoy(keys, upstream):
    e = Envoy(plugin_config(keys), upstream.port, env=keys.env())
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def _clean_upstream(upstream):
    upstream.take()
    yield


def pytest_collection_modifyitems(items):
    # The log-redaction check reads every Envoy log of the session, so it runs after everything else, whatever
    # order the files were given in (the sort is stable: the others keep theirs).
    items.sort(key=lambda item: item.nodeid.split("::")[0].endswith("test_zz_log_redaction.py"))


def pytest_terminal_summary(terminalreporter):
    from harness import report
    if report.LINES:
        terminalreporter.section("outage drills: requests during each outage window")
        for line in report.LINES:
            terminalreporter.write_line(line)
