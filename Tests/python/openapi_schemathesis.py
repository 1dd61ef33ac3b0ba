"""Runs schemathesis (PyPI) against the live API with a valid token, using the OpenAPI document
kept in the repository (Sources/HybridAPI/openapi.yaml).

    python openapi_schemathesis.py BASE_URL TOKEN DOCUMENT [--mutate]

Every check (`--checks all`: no 5xx, status codes, content types, response schemas and headers,
negative data rejected, positive data accepted, unsupported methods, auth ignored, …), the
examples, coverage and fuzzing phases, a bounded number of examples per operation and a fixed
seed. Exit 0 only when schemathesis passes; its output is printed.

`--mutate` is the negative control: the same run against a copy of the document with one
property's type changed (`ConfigView.enabled`: boolean → string), limited to the operation
that answers it. That run must fail; this script exits 0 and prints "negative control: caught"
only if it did, and says which check caught it.
"""

import os
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ST = os.path.join(os.path.dirname(sys.executable), "st")


def schemathesis(base, token, document, extra):
    command = [
        ST, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", document,
        "--url", base,
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "40"),
        "--seed", os.environ.get("SCHEMATHESIS_SEED", "20260611"),
        "--generation-database", "none",
        "--request-timeout", "10",
        "--workers", "2",
        "--no-color",
        # Hypothesis's health checks (too slow, filtered too much) only make a loaded machine flaky.
        "--suppress-health-check", "all",
    ] + extra
    started = time.monotonic()
    # In a scratch folder: schemathesis keeps a crash cache (.schemathesis/) in its working directory.
    with tempfile.TemporaryDirectory(prefix="hh-schemathesis-") as scratch:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=scratch,
                                env=dict(os.environ, SCHEMATHESIS_TELEMETRY="false", NO_COLOR="1"))
    # Never print the token (schemathesis sanitizes Authorization, but be sure).
    output = (result.stdout + result.stderr).replace(token, "<token>")
    return result.returncode, output, time.monotonic() - started


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 3:
        print(__doc__)
        return 2
    base, token, document = args
    if "--mutate" not in sys.argv:
        status, output, seconds = schemathesis(base, token, document, [])
        print(output)
        print(f"schemathesis: exit {status} after {seconds:.1f} s")
        return 0 if status == 0 else 1

    with open(document) as f:
        spec = yaml.safe_load(f)
    enabled = spec["components"]["schemas"]["ConfigView"]["properties"]["enabled"]
    assert enabled["type"] == "boolean", enabled
    enabled["type"] = "string"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(spec, f, sort_keys=False)
        wrong = f.name
    try:
        status, output, seconds = schemathesis(base, token, wrong, [
            "--include-operation-id", "getTradingConfig", "--max-failures", "1"])
    finally:
        os.unlink(wrong)
    print(output)
    print(f"schemathesis on the wrong document: exit {status} after {seconds:.1f} s")
    caught = status != 0 and "Response violates schema" in output and "enabled" in output
    print("negative control: caught" if caught else "negative control: NOT caught")
    return 0 if caught else 1


if __name__ == "__main__":
    sys.exit(main())
