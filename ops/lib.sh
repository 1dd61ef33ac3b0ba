# Shared by ops/test.sh and ops/demo.sh: a toolchain on PATH, Debian packages, the private
# Postgres started and its connection settings exported.
# shellcheck shell=bash
REPO="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"

prepare_machine() {
  command -v swift >/dev/null || { echo "ops: swift not found (expected at /opt/swift/usr/bin)" >&2; exit 1; }
  "$REPO/ops/setup-debian.sh"
  "$REPO/ops/postgres.sh" start
  eval "$("$REPO/ops/postgres.sh" env)"
}

# Builds everything (tests included) and fails on any compiler warning in our own code, and on
# an import that its target does not declare (SwiftPM's check, then check_declared_imports).
build_without_warnings() {
  local log status
  log="$(mktemp)"
  echo "ops: building (a cold build takes a few minutes)"
  set +e
  swift build --package-path "$REPO" --build-tests --explicit-target-dependency-import-check error 2>&1 | tee "$log" \
    | grep -E '^\[[0-9]+/[0-9]+\] (Compiling|Linking)' | awk 'NR % 50 == 0 { print "ops:   " $0 }'
  status=${PIPESTATUS[0]}
  set -e
  # An undeclared import fails the build (exit 1) after "Build complete!": both are checked.
  if [ "$status" -ne 0 ] || ! grep -q "Build complete" "$log"; then
    grep -E "error:" "$log" | head -40 >&2
    echo "ops: build failed (full log: $log)" >&2
    exit 1
  fi
  if grep -E "^$REPO/(Sources|Tests)/.*warning:" "$log" >&2; then
    echo "ops: the build printed warnings in our own code; fix them" >&2
    exit 1
  fi
  rm -f "$log"
  check_declared_imports
}

# Every module a Swift file imports must be declared by the file's target in Package.swift (one
# of our targets or a product), not reached through another dependency: SwiftPM's
# --explicit-target-dependency-import-check only catches imports from outside the target's
# whole dependency graph (NIOCore, which postgres-nio brings, passes it undeclared).
check_declared_imports() {
  local manifest
  manifest="$(mktemp)"
  swift package dump-package --package-path "$REPO" > "$manifest"
  if ! python3 - "$REPO" "$manifest" <<'PY'
import json, os, re, sys
repo, manifest = sys.argv[1], sys.argv[2]
# The toolchain's and the system's modules: no manifest declares them.
system = {"Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin", "Dispatch",
          "Synchronization", "Testing", "XCTest", "_Concurrency", "RegexBuilder"}
imports = re.compile(r"^[ \t]*(?:@\w+[ \t]+)*(?:(?:public|package|internal|fileprivate|private)[ \t]+)?import[ \t]+"
                     r"(?:(?:struct|class|enum|protocol|typealias|func|let|var)[ \t]+)?(\w+)", re.M)
undeclared = []
for target in json.load(open(manifest))["targets"]:
    declared = {dependency[0] for entry in target["dependencies"] for dependency in entry.values()}
    folder = target.get("path") or ("Tests/" if target["type"] == "test" else "Sources/") + target["name"]
    for root, _, files in os.walk(os.path.join(repo, folder)):
        for name in sorted(f for f in files if f.endswith(".swift")):
            path = os.path.join(root, name)
            for module in sorted(set(imports.findall(open(path, encoding="utf-8").read())) - system - declared):
                undeclared.append(f"ops: {os.path.relpath(path, repo)} imports {module}, which target {target['name']} does not declare")
# docs/architecture.md's module graph is this manifest's (our targets and their targets).
ours = {target["name"] for target in json.load(open(manifest))["targets"]}
graph = []
for target in json.load(open(manifest))["targets"]:
    if target["type"] == "test":
        continue
    deps = sorted(dependency[0] for entry in target["dependencies"] for dependency in entry.values() if dependency[0] in ours)
    graph.append(f"{target['name']:<18} → {', '.join(deps) if deps else '(none of ours)'}")
doc = open(os.path.join(repo, "docs/architecture.md"), encoding="utf-8").read()
block = doc.split("<!-- module-graph -->", 1)[-1].split("<!-- /module-graph -->", 1)[0]
documented = [line for line in block.splitlines() if "→" in line]
if documented != graph:
    undeclared.append("ops: docs/architecture.md's module graph differs from Package.swift; it should read:\n" + "\n".join(graph))
print("\n".join(undeclared), file=sys.stderr, end="\n" if undeclared else "")
sys.exit(1 if undeclared else 0)
PY
  then
    rm -f "$manifest"
    echo "ops: declare each module a target imports in Package.swift, or drop the import" >&2
    exit 1
  fi
  rm -f "$manifest"
}

# A test the runner does not see never fails: every `@Test` in Tests/ must be listed by the
# runner, and no `func test…` may sit in a Swift Testing file without `@Test`.
check_test_discovery() {
  local declared listed lost
  declared=$(grep -rhE '^\s*@Test\b' "$REPO/Tests" --include='*.swift' | wc -l)
  listed=$(swift test list --skip-build --package-path "$REPO" 2>/dev/null | grep -c '/' || true)
  if [[ "$declared" -ne "$listed" ]]; then
    echo "ops: $declared @Test functions in Tests/ but the runner lists $listed" >&2
    exit 1
  fi
  lost=$(grep -rlE '^\s*func test' "$REPO/Tests" --include='*.swift' | xargs -r grep -L 'XCTestCase' || true)
  if [[ -n "$lost" ]]; then
    for file in $lost; do
      if awk '/@Test/ { marked = NR } /^[[:space:]]*func test/ && marked != NR - 1 { bad = 1 } END { exit !bad }' "$file"; then
        echo "ops: $file has func test… without @Test: it would never run" >&2
        exit 1
      fi
    done
  fi
  echo "ops: the runner sees all $listed tests"
}

# Python test clients (alpaca-py, …) in the git-ignored .venv-test, pinned by
# ops/python-test-requirements.txt; reinstalled only when that file changes.
prepare_python() {
  local venv="$REPO/.venv-test" stamp
  stamp="$(sha256sum "$REPO/ops/python-test-requirements.txt" | cut -c1-16)"
  if [[ -x "$venv/bin/python" && -f "$venv/.stamp" && "$(cat "$venv/.stamp")" == "$stamp" ]]; then return; fi
  echo "ops: installing the Python test clients into .venv-test"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$REPO/ops/python-test-requirements.txt"
  echo "$stamp" > "$venv/.stamp"
}

# Runs `swift test --skip-build` with line-buffered output (a log shows each test as it ends)
# under a watchdog: a run that outlives HYBRIDHUB_TEST_TIMEOUT seconds (default 1800; the
# suite takes a few minutes) is stopped, and the tests that started but never ended are named,
# instead of holding CI until its own limit.
run_tests_with_watchdog() {
  local log status limit="${HYBRIDHUB_TEST_TIMEOUT:-1800}"
  log="$(mktemp /tmp/hybridhub-tests.XXXXXX)"
  echo "ops: running tests (watchdog ${limit} s; output also in $log)"
  set +e
  # At most HYBRIDHUB_TEST_PARALLELISM tests at once (default 6): many suites start real
  # processes, and on two cores an unbounded start-up burst makes timing assertions flaky.
  timeout --kill-after=20 "$limit" stdbuf -oL -eL swift test --skip-build \
    --experimental-maximum-parallelization-width "${HYBRIDHUB_TEST_PARALLELISM:-6}" "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    pkill -KILL -f 'HybridHubPackageTests.xctest' 2>/dev/null || true
    echo "ops: the tests did not finish within ${limit} s; these started and never ended:" >&2
    comm -23 <(grep -oE '◇ Test [A-Za-z0-9_]+\(' "$log" | sed 's/^◇ Test //' | sort -u) \
             <(grep -oE '(✔|✘) Test [A-Za-z0-9_]+\(' "$log" | sed -E 's/^(✔|✘) Test //' | sort -u) | sed 's/^/  /' >&2
  fi
  return "$status"
}
