"""The agent builds its models without pydantic's plugin loader (and so
without importlib.metadata, 1.5 MB of RSS), and the models still validate."""
import subprocess
import sys

import pytest

_AGENT_IMPORTS = """
import sys
import overseer.reconciler.agent.agent
from overseer.desired.models import MODELS
doc = {"apiVersion": "overseer/v1", "kind": "Server", "metadata": {"name": "pbx1"},
       "spec": {"address": "192.0.2.1"}}
MODELS["Server"].model_validate(doc)
print("importlib.metadata" in sys.modules, "pydantic.plugin._loader" in sys.modules)
"""


def test_the_agent_loads_no_plugin_machinery_and_models_still_validate():
    out = subprocess.run([sys.executable, "-c", _AGENT_IMPORTS], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_a_bad_document_is_still_refused():
    from pydantic import ValidationError

    from overseer.desired.models import MODELS
    with pytest.raises(ValidationError):
        MODELS["Server"].model_validate({"apiVersion": "overseer/v1", "kind": "Server",
                                         "metadata": {"name": "pbx1"}, "spec": {"address": "x", "bogus": 1}})
