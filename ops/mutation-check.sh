#!/usr/bin/env bash
# Breaks the domain arithmetic one way at a time and checks that the domain tests notice.
# Each mutant must make `swift test --filter TradingCoreTests` fail; the source is restored after.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
mutants=(
  "Sources/TradingCore/Guardrails.swift|\$0.createdAt > start \&\& |\$0.createdAt >= start \&\& "
  "Sources/TradingCore/Guardrails.swift|if today.count >= rails.maxOrdersPerDay|if today.count > rails.maxOrdersPerDay"
  "Sources/TradingCore/Guardrails.swift|if used + notional > rails.maxNotionalUSDPer4h|if used > rails.maxNotionalUSDPer4h"
  "Sources/TradingCore/Guardrails.swift|if notional > gate.hardMaxOrderNotionalUSD|if notional > gate.hardMaxOrderNotionalUSD + 1"
  "Sources/TradingCore/Guardrails.swift|!(gate.allowLive \&\& config.mode == .live)|!(gate.allowLive \|\| config.mode == .live)"
  "Sources/TradingCore/RuleEngine.swift|case .priceBelowPctOfRef: return price <= trigger|case .priceBelowPctOfRef: return price < trigger"
  "Sources/TradingCore/RuleEngine.swift|if priceAge > rule.maxStalenessSeconds|if priceAge > rule.maxStalenessSeconds + 1"
  "Sources/TradingCore/AnswerDecision.swift|if value >= approveAtOrAbove { return .approve }|if value > approveAtOrAbove { return .approve }"
  "Sources/TradingCore/Cooldown.swift|if let until = state.cooldownUntil, now < until|if let until = state.cooldownUntil, now <= until"
)
survived=0
invalid=0
for m in "${mutants[@]}"; do
  IFS='|' read -r file from to <<<"$m"
  cp "$file" "$file.orig"
  trap 'mv -f "$file.orig" "$file"; touch "$file"' EXIT
  sed -i "s|$from|$to|" "$file"
  if cmp -s "$file" "$file.orig"; then echo "mutation-check: pattern not found in $file: $from" >&2; mv -f "$file.orig" "$file"; touch "$file"; exit 1; fi
  if ! swift build --build-tests >/dev/null 2>&1; then
    echo "INVALID   $file: $from -> $to (the mutant does not build)"; invalid=$((invalid + 1))
  elif swift test --skip-build --filter TradingCoreTests >/dev/null 2>&1; then
    echo "SURVIVED  $file: $from -> $to"; survived=$((survived + 1))
  else
    echo "killed    $file: $from -> $to"
  fi
  # touch: the restored file keeps the copy's older mtime, and the build would keep the mutant.
  mv -f "$file.orig" "$file"; touch "$file"; trap - EXIT
done
swift build --build-tests >/dev/null 2>&1
echo "mutation-check: ${#mutants[@]} mutants, $survived survived, $invalid did not build"
[[ $survived -eq 0 && $invalid -eq 0 ]]
