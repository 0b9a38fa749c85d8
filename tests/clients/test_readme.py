"""The README's "Try it with kafka-python" snippet runs as written (against an ephemeral port).

The snippet talks to localhost:9092; the test rewrites that address to the broker it started, runs
the code block with this venv's Python and expects it to exit 0. A README without the heading, or
a heading without a ```python block under it, fails the test: the snippet is part of the product.
"""

import re
import subprocess
import sys

import pytest

from harness import REPO

pytestmark = pytest.mark.kafka_python

HEADING = "Try it with kafka-python"


def readme_snippet():
    readme = REPO / "README.md"
    assert readme.exists(), "README.md is missing (it should have a 'Try it with kafka-python' section)"
    text = readme.read_text()
    heading = re.search(rf"^(#+)\s*{re.escape(HEADING)}\s*$", text, re.MULTILINE)
    assert heading, f"README.md has no heading '{HEADING}'"
    level = len(heading.group(1))
    # The section runs to the next heading of the same or a higher level.
    rest = text[heading.end():]
    next_heading = re.search(rf"^#{{1,{level}}}\s", rest, re.MULTILINE)
    section = rest[: next_heading.start()] if next_heading else rest
    block = re.search(r"^```python[^\n]*\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block, f"no ```python code block under '{HEADING}'"
    return block.group(1)


def test_readme_kafka_python_snippet_runs(broker, tmp_path):
    code = readme_snippet()
    assert "localhost:9092" in code, "the snippet should use localhost:9092 (the test rewrites it)"
    code = code.replace("localhost:9092", broker.bootstrap)
    assert "9092" not in code, "the snippet mentions port 9092 in a form the test cannot rewrite"
    script = tmp_path / "readme_snippet.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip(), (
        f"README snippet exited {proc.returncode} (it should exit 0 and print what it consumed)\n--- stdout\n{proc.stdout.decode(errors='replace')}"
        f"\n--- stderr\n{proc.stderr.decode(errors='replace')}"
    )
